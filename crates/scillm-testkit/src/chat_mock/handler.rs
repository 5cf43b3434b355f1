//! The request handler of the chat mock: count, record, check, pick a reply, render it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{MockReply, MockState, RecordedRequest};

/// Decrements the in-flight counter however the handler ends (a client that hangs up
/// drops the handler future).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `GET /mock/stats`: the counters, for a test in another process.
pub(super) async fn stats(State(state): State<Arc<MockState>>) -> Json<Value> {
    Json(json!({
        "requests": state.count.load(Ordering::SeqCst),
        "in_flight": state.in_flight.load(Ordering::SeqCst),
        "max_in_flight": state.max_in_flight.load(Ordering::SeqCst),
    }))
}

pub(super) async fn chat(
    State(state): State<Arc<MockState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(&state.in_flight);
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let seq = state.count.fetch_add(1, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let req = RecordedRequest {
        at: std::time::Instant::now(),
        seq,
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body,
    };
    if let Some(check) = &state.check {
        if let Err(msg) = check(&req.body) {
            if let Ok(mut f) = state.failures.lock() {
                f.push(msg.clone());
            }
            return error_response(400, &format!("body check failed: {msg}"), None);
        }
    }
    let scripted = state.script.lock().ok().and_then(|mut s| s.pop_front());
    let reply = match (scripted, &state.responder) {
        (Some(r), _) => r,
        (None, Some(f)) => f(&req),
        (None, None) => state.default.clone(),
    };
    let stream = req.body.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = req
        .body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let model = req.model().to_string();
    if state.record {
        if let Ok(mut r) = state.requests.lock() {
            r.push(req);
        }
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    render(reply, seq, &model, stream, include_usage)
}

fn render(
    reply: MockReply,
    seq: usize,
    model: &str,
    stream: bool,
    include_usage: bool,
) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = if let Some(raw) = reply.raw {
        (status, raw).into_response()
    } else if let Some(body) = reply.body {
        (status, Json(body)).into_response()
    } else if stream && status.is_success() {
        (
            status,
            [("content-type", "text/event-stream")],
            sse(seq, model, &reply.content, include_usage),
        )
            .into_response()
    } else {
        let body = json!({
            "id": format!("mock-{seq}"), "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        });
        (status, Json(body)).into_response()
    };
    if let Some(ra) = reply
        .retry_after
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        resp.headers_mut().insert("retry-after", ra);
    }
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            resp.headers_mut().insert(n, v);
        }
    }
    resp
}

/// The SSE body of a streamed answer: a role chunk, the content in two pieces, a final
/// chunk, with `stream_options.include_usage` a usage chunk without choices (as OpenAI
/// sends it), `[DONE]`.
fn sse(seq: usize, model: &str, content: &str, include_usage: bool) -> String {
    let mid = content
        .char_indices()
        .nth(content.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": format!("mock-{seq}"), "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let mut out = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    out.push_str(&chunk(json!({"content": &content[..mid]}), Value::Null));
    out.push_str(&chunk(json!({"content": &content[mid..]}), Value::Null));
    out.push_str(&chunk(json!({}), Value::from("stop")));
    if include_usage {
        let c = json!({"id": format!("mock-{seq}"), "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
        out.push_str(&format!("data: {c}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn error_response(status: u16, message: &str, retry_after: Option<String>) -> Response {
    let mut reply = MockReply::status(status);
    reply.body = Some(json!({"error": {"message": message, "type": "mock_error", "code": status}}));
    reply.retry_after = retry_after;
    render(reply, 0, "", false, false)
}
