//! Server-sent events: chunks as `data: {…}`, the `data: [DONE]` terminator, and
//! OpenAI-style error events for failures after the stream has started.

use std::convert::Infallible;

use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use scillm_core::wire::ChatChunk;
use tokio::sync::mpsc;

use scillm_serve::ApiError;

/// A `data: {chunk}` event.
pub fn chunk_event(chunk: &ChatChunk) -> Event {
    Event::default().data(serde_json::to_string(chunk).unwrap_or_default())
}

/// The `data: [DONE]` event.
pub fn done_event() -> Event {
    Event::default().data("[DONE]")
}

/// A `data: {"error":{…}}` event (the OpenAI SDKs raise it as an API error).
pub fn error_event(err: &ApiError) -> Event {
    Event::default().data(serde_json::to_string(&err.body).unwrap_or_default())
}

/// An SSE response fed from a channel; the stream ends when every sender is gone.
pub fn from_channel(rx: mpsc::UnboundedReceiver<Event>) -> Response {
    Sse::new(channel_stream(rx)).into_response()
}

fn channel_stream(
    rx: mpsc::UnboundedReceiver<Event>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|ev| (Ok(ev), rx))
    })
}

/// An SSE response of fixed events.
pub fn from_events(events: Vec<Event>) -> Response {
    Sse::new(futures::stream::iter(
        events.into_iter().map(Ok::<_, Infallible>),
    ))
    .into_response()
}
