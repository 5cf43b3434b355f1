//! Streaming a run as it happens (SPEC §15): server-sent `chat.completion.chunk` events.
//!
//! The first chunk carries the assistant role. Each model call, tool call and tool result
//! is a chunk with an empty delta and the event under `mini_agent` (an OpenAI client sees
//! no content from it and keeps the object in its extra fields), sent the moment it
//! happens. Then comes the final answer as content, a chunk with `finish_reason: "stop"`
//! and the run's details under `mini_agent`, and `data: [DONE]`. A failed run ends with an
//! OpenAI error object instead of the answer.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use scillm_core::wire::{ChatChunk, Delta, Role};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::admission::Slot;
use super::ShimState;
use crate::agent::{AgentEvent, AgentRequest, EventSink};
use scillm_serve::ApiError;

/// What the stream carries, in order.
enum Item {
    Progress(AgentEvent),
    Done(Result<crate::agent::AgentRun, ApiError>),
}

/// Run `req` in the background holding `slot`, answering with its progress as SSE. A
/// client that goes away cancels the run (its tools are killed with it).
pub fn stream_run(
    state: Arc<ShimState>,
    slot: Slot,
    id: String,
    model: String,
    request_model: String,
    req: AgentRequest,
) -> Response {
    let (tx, rx) = mpsc::unbounded_channel::<Item>();
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<AgentEvent>();
    let forward = tx.clone();
    let run = tokio::spawn(async move {
        let _slot = slot;
        let work = async move {
            // Dropped when the run ends, which ends the pump below.
            let events = EventSink::new(events_tx);
            super::handlers::run_agent_events(
                &state,
                "/v1/chat/completions",
                &request_model,
                req,
                &events,
            )
            .await
        };
        let pump = async {
            while let Some(e) = events_rx.recv().await {
                let _ = forward.send(Item::Progress(e));
            }
        };
        let (result, ()) = tokio::join!(work, pump);
        let _ = tx.send(Item::Done(result));
    });
    let abort = tokio_util::task::AbortOnDropHandle::new(run);

    let first = ChatChunk::delta(
        &id,
        &model,
        Delta {
            role: Some(Role::Assistant),
            content: Some(Some(String::new())),
            ..Delta::default()
        },
        None,
    );
    let head = futures::stream::once(async move { Ok::<_, Infallible>(event(&first)) });
    let body = UnboundedReceiverStream::new(rx).flat_map(move |item| {
        let _keep = &abort;
        futures::stream::iter(items(&id, &model, item))
    });
    Sse::new(head.chain(body)).into_response()
}

fn items(id: &str, model: &str, item: Item) -> Vec<Result<Event, Infallible>> {
    match item {
        Item::Progress(e) => {
            let mut chunk = ChatChunk::delta(id, model, Delta::default(), None);
            chunk
                .extra
                .insert("mini_agent".into(), json!({ "event": e }));
            vec![Ok(event(&chunk))]
        }
        Item::Done(Ok(run)) => {
            let answer = ChatChunk::delta(id, model, Delta::text(run.final_answer.clone()), None);
            let mut last = ChatChunk::delta(id, model, Delta::default(), Some("stop".into()));
            last.extra.insert("mini_agent".into(), run.details());
            vec![
                Ok(event(&answer)),
                Ok(event(&last)),
                Ok(Event::default().data("[DONE]")),
            ]
        }
        Item::Done(Err(e)) => vec![
            Ok(Event::default().data(serde_json::to_string(&e.body).unwrap_or_default())),
            Ok(Event::default().data("[DONE]")),
        ],
    }
}

fn event(chunk: &ChatChunk) -> Event {
    Event::default().data(serde_json::to_string(chunk).unwrap_or_default())
}
