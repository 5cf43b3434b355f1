//! Echo mode (`CODEX_SIDECAR_ECHO=1` / `CODEX_ECHO_MODE=1`): a fixed reply, the request
//! model echoed, no credentials and no CLI needed; streamed too when asked.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use scillm_core::wire::{ChatChunk, ChatRequest, ChatResponse, Delta, Role, Usage};

use super::sse;
use scillm_serve::completion_id;
use scillm_serve::ApiError;

/// The echo answer to `req`.
pub fn respond(req: &ChatRequest, reply: &str) -> Response {
    let id = completion_id();
    if req.is_stream() {
        let mut first = Delta::text("");
        first.role = Some(Role::Assistant);
        let events = vec![
            sse::chunk_event(&ChatChunk::delta(&id, &req.model, first, None)),
            sse::chunk_event(&ChatChunk::delta(&id, &req.model, Delta::text(reply), None)),
            sse::chunk_event(&ChatChunk::delta(
                &id,
                &req.model,
                Delta::default(),
                Some("stop".into()),
            )),
            sse::done_event(),
        ];
        return sse::from_events(events);
    }
    let mut resp = ChatResponse::from_text(id, &req.model, reply);
    resp.usage = Some(Usage::default());
    // Serialised into one buffer sized for a typical answer (no regrowth on the way).
    let mut body = Vec::with_capacity(320 + reply.len() + req.model.len());
    match serde_json::to_writer(&mut body, &resp) {
        Ok(()) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::internal("serialize_failed", format!("cannot encode the answer: {e}"))
            .into_response(),
    }
}
