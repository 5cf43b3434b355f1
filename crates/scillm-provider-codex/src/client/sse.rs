//! Server-sent events from upstream parsed into [`ChatChunk`]s.
//!
//! Chunks are read leniently (SPEC §11, [`scillm_core::upstream`]): missing metadata is
//! filled in, usage-only chunks are kept. The stream ends cleanly at `data: [DONE]` (or at
//! end of body once every choice has a `finish_reason`). An SSE error event or a chunk
//! carrying an error (typed by the status it names, with the response's wait hint), a
//! chunk that cannot be read, a cut connection or a stall past the timeout ends it with
//! exactly one error item.

use std::pin::Pin;
use std::time::{Duration, Instant};

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use scillm_core::upstream::{self, StreamIds};
use scillm_core::wire::{ChatChunk, ChatResponse, Delta};
use scillm_core::{ChunkStream, ErrorKind, ProviderError};

use super::classify::{reqwest_error, with_wait_hint};

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// Whether the answer is an event stream (else it is taken as one JSON completion).
pub(super) fn is_event_stream(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| !v.trim_start().starts_with("application/json"))
}

/// Whether the answer says it is an event stream (`text/event-stream`): a non-stream
/// request answered that way is read as a stream and folded into one answer.
pub(super) fn is_declared_event_stream(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        })
}

/// The chunks of an SSE answer. `idle` bounds the wait for each event; `deadline` bounds
/// the whole stream.
pub(super) fn chunk_stream(
    resp: reqwest::Response,
    idle: Option<Duration>,
    deadline: Option<Instant>,
) -> ChunkStream {
    let state = SseState {
        headers: resp.headers().clone(),
        events: Box::pin(resp.bytes_stream().eventsource()),
        idle,
        deadline,
        ids: StreamIds::default(),
        ended: false,
        finished: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        let item = st.next_item().await?;
        st.ended = item.is_err();
        Some((item, st))
    }))
}

/// A complete answer given as a stream: one chunk per choice, the last one carrying the
/// usage.
pub(super) fn completion_as_stream(resp: ChatResponse) -> ChunkStream {
    let usage = resp.usage.clone();
    let mut chunks: Vec<Result<ChatChunk, ProviderError>> = resp
        .choices
        .into_iter()
        .map(|choice| {
            let msg = choice.message;
            let delta = Delta {
                role: Some(msg.role),
                content: Some(Some(msg.text_content())),
                reasoning_content: msg.reasoning_content,
                tool_calls: msg.tool_calls.map(|calls| {
                    calls
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, c)| {
                            let mut v = serde_json::to_value(c).ok()?;
                            if let Some(m) = v.as_object_mut() {
                                m.entry("index").or_insert(i.into());
                            }
                            Some(v)
                        })
                        .collect()
                }),
                extra: Default::default(),
            };
            let mut chunk = ChatChunk::delta(&resp.id, &resp.model, delta, choice.finish_reason);
            chunk.created = resp.created;
            if let Some(c) = chunk.choices.first_mut() {
                c.index = choice.index;
            }
            Ok(chunk)
        })
        .collect();
    if let Some(Ok(last)) = chunks.last_mut() {
        last.usage = usage;
    }
    Box::pin(futures::stream::iter(chunks))
}

struct SseState {
    /// The response headers, for the wait hint of an error event.
    headers: HeaderMap,
    events: Events,
    /// The stream's id and `created`, for chunks that lack them.
    ids: StreamIds,
    idle: Option<Duration>,
    deadline: Option<Instant>,
    /// An error item was yielded: nothing follows it.
    ended: bool,
    /// Every choice seen so far has a `finish_reason`.
    finished: bool,
}

impl SseState {
    async fn next_item(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        loop {
            let event = match self.next_event().await {
                Ok(Some(ev)) => ev,
                Ok(None) if self.finished => return None,
                Ok(None) => {
                    return Some(Err(ProviderError::new(
                        ErrorKind::InvalidResponse,
                        "the upstream stream ended before [DONE]",
                    )))
                }
                Err(e) => return Some(Err(e)),
            };
            let data = event.data.trim();
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                return None;
            }
            if event.event == "error" {
                return Some(Err(with_wait_hint(
                    upstream::error_from_event(data),
                    &self.headers,
                )));
            }
            return Some(self.parse_chunk(data));
        }
    }

    async fn next_event(&mut self) -> Result<Option<Event>, ProviderError> {
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let budget = match (self.idle, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let next = match budget {
            None => self.events.next().await,
            Some(b) => tokio::time::timeout(b, self.events.next())
                .await
                .map_err(|_| {
                    ProviderError::new(
                        ErrorKind::Timeout,
                        format!(
                            "the upstream stream stalled for {:.1} s (the per-attempt timeout / the request's deadline)",
                            b.as_secs_f64()
                        ),
                    )
                })?,
        };
        match next {
            None => Ok(None),
            Some(Ok(ev)) => Ok(Some(ev)),
            Some(Err(EventStreamError::Transport(e))) => {
                let mut err = reqwest_error(&e);
                err.message = format!("the upstream stream was cut: {}", err.message);
                Err(err)
            }
            Some(Err(e)) => Err(ProviderError::new(
                ErrorKind::InvalidResponse,
                format!("the upstream stream is not valid SSE: {e}"),
            )),
        }
    }

    fn parse_chunk(&mut self, data: &str) -> Result<ChatChunk, ProviderError> {
        let chunk = upstream::chunk_from_str(data, &mut self.ids)
            .map_err(|e| with_wait_hint(e, &self.headers))?;
        if !chunk.choices.is_empty() {
            self.finished = chunk.choices.iter().all(|c| c.finish_reason.is_some());
        }
        Ok(chunk)
    }
}
