//! The answer to a chat from a running turn, complete or streamed, for both backends.
//!
//! A backend's run sends [`TurnEvent`]s on a channel and stops its turn (interrupt or
//! kill) as soon as the receiving side is gone, which is how a client disconnect reaches
//! Codex. A streamed answer waits for its first piece: a turn that fails before giving
//! any gets the same HTTP error as the complete answer would.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use scillm_core::wire::{ChatChunk, ChatResponse, Delta, Role};
use tokio::sync::mpsc;

use super::meter::TurnMeter;
use super::schema::{SchemaMode, SCHEMA_MODE_HEADER};
use super::sse;
use super::turn::{End, Fold, Piece, TurnEvent};
use scillm_serve::completion_id;
use scillm_serve::ApiError;

/// A turn in progress, seen from the answering side.
#[derive(Debug)]
pub struct TurnHandle {
    /// The run's events; dropping this stops the run.
    pub events: mpsc::UnboundedReceiver<TurnEvent>,
    /// How a requested schema reached Codex.
    pub schema_mode: Option<SchemaMode>,
    /// Counts the turn when it ends (or as interrupted when the handle is dropped first).
    pub meter: TurnMeter,
}

/// The error of a run whose channel closed before the turn ended.
fn vanished(warnings: Option<String>) -> ApiError {
    let mut msg = "the Codex run ended without completing the turn".to_string();
    if let Some(w) = warnings {
        msg.push_str(&format!(" ({w})"));
    }
    ApiError::upstream("codex_incomplete", msg)
}

/// Pieces so far and, once the turn ended, its end.
struct Progress {
    content: String,
    reasoning: String,
}

impl Progress {
    fn take(&mut self, pieces: Vec<Piece>) {
        for p in pieces {
            match p {
                Piece::Content(t) => self.content.push_str(&t),
                Piece::Reasoning(t) => self.reasoning.push_str(&t),
            }
        }
    }
}

/// Read events until the turn ends or `first_piece` is set and a piece arrived.
async fn pump(
    handle: &mut TurnHandle,
    fold: &mut Fold,
    first_piece: bool,
) -> (Vec<Piece>, Option<End>) {
    let mut pieces = Vec::new();
    loop {
        let Some(event) = handle.events.recv().await else {
            let (rest, end) = fold.finish(vanished);
            pieces.extend(rest);
            return (pieces, Some(end));
        };
        pieces.extend(fold.push(event));
        if fold.end().is_some() {
            let (rest, end) = fold.finish(vanished);
            pieces.extend(rest);
            return (pieces, Some(end));
        }
        if first_piece && !pieces.is_empty() {
            return (pieces, None);
        }
    }
}

fn with_schema_header(mut resp: Response, mode: Option<SchemaMode>) -> Response {
    if let Some(mode) = mode {
        resp.headers_mut()
            .insert(SCHEMA_MODE_HEADER, HeaderValue::from_static(mode.as_str()));
    }
    resp
}

/// The complete answer.
pub async fn complete(mut handle: TurnHandle, model: &str) -> Response {
    let mut fold = Fold::default();
    let (pieces, end) = pump(&mut handle, &mut fold, false).await;
    let mut p = Progress {
        content: String::new(),
        reasoning: String::new(),
    };
    p.take(pieces);
    let end = end.unwrap_or_else(|| End::Failed(vanished(None)));
    handle.meter.ended(&end);
    let resp = match end {
        End::Done(usage) => {
            let mut resp = ChatResponse::from_text(completion_id(), model, p.content);
            if let Some(choice) = resp.choices.first_mut() {
                choice.message.reasoning_content = (!p.reasoning.is_empty()).then_some(p.reasoning);
            }
            resp.usage = usage;
            Json(resp).into_response()
        }
        End::Failed(e) => e.into_response(),
    };
    with_schema_header(resp, handle.schema_mode)
}

/// Turns pieces into chunks on the SSE channel.
struct Emitter {
    tx: mpsc::UnboundedSender<axum::response::sse::Event>,
    id: String,
    model: String,
    started: bool,
}

impl Emitter {
    fn send(
        &mut self,
        mut delta: Delta,
        finish: Option<&str>,
        usage: Option<scillm_core::wire::Usage>,
    ) -> bool {
        if !self.started {
            delta.role = Some(Role::Assistant);
            self.started = true;
        }
        let mut chunk = ChatChunk::delta(&self.id, &self.model, delta, finish.map(String::from));
        chunk.usage = usage;
        self.tx.send(sse::chunk_event(&chunk)).is_ok()
    }

    fn pieces(&mut self, pieces: Vec<Piece>) -> bool {
        pieces.into_iter().all(|p| match p {
            Piece::Content(t) => self.send(Delta::text(t), None, None),
            Piece::Reasoning(t) => self.send(
                Delta {
                    reasoning_content: Some(t),
                    ..Delta::default()
                },
                None,
                None,
            ),
        })
    }

    fn end(&mut self, end: End) {
        match end {
            End::Done(usage) => {
                if self.send(Delta::default(), Some("stop"), usage) {
                    let _ = self.tx.send(sse::done_event());
                }
            }
            End::Failed(e) => {
                let _ = self.tx.send(sse::error_event(&e));
            }
        }
    }
}

/// The streamed answer: chunks as the turn produces them, then `[DONE]`; a failure after
/// the first chunk is an error event that ends the stream.
pub async fn stream(mut handle: TurnHandle, model: &str) -> Response {
    let mut fold = Fold::default();
    let (first, end) = pump(&mut handle, &mut fold, true).await;
    if let Some(end) = &end {
        handle.meter.ended(end);
        if let (End::Failed(e), true) = (end, first.is_empty()) {
            return with_schema_header(e.clone().into_response(), handle.schema_mode);
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let mut em = Emitter {
        tx,
        id: completion_id(),
        model: model.to_string(),
        started: false,
    };
    let mode = handle.schema_mode;
    tokio::spawn(async move {
        if !em.pieces(first) {
            return;
        }
        if let Some(end) = end {
            em.end(end);
            return;
        }
        loop {
            let closed = em.tx.clone();
            let (pieces, end) = tokio::select! {
                r = pump(&mut handle, &mut fold, true) => r,
                // The client went away: dropping `handle` stops the run.
                _ = closed.closed() => return,
            };
            if let Some(end) = &end {
                handle.meter.ended(end);
            }
            if !em.pieces(pieces) {
                return;
            }
            if let Some(end) = end {
                em.end(end);
                return;
            }
        }
    });
    with_schema_header(sse::from_channel(rx), mode)
}
