//! A mock OpenAI Responses API model server on an ephemeral loopback port, for driving the
//! real Codex CLI without any network.
//!
//! `POST /v1/responses` is answered as `text/event-stream`: `response.created`, then
//! `response.output_item.done` with an assistant `message` item holding the reply as
//! `output_text`, then `response.completed` with `usage`. Every request body is recorded.
//! `GET /v1/models` answers an empty list so a client that probes models moves on.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use scillm_testkit::responses_mock::ResponsesMock;
//! let mock = ResponsesMock::start("hello from the mock").await.unwrap();
//! assert!(mock.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(mock.request_count(), 0);
//! # });
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Token counts the mock reports in `response.completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockUsage {
    /// `input_tokens`.
    pub input_tokens: u64,
    /// `output_tokens`.
    pub output_tokens: u64,
}

impl Default for MockUsage {
    fn default() -> Self {
        Self {
            input_tokens: 21,
            output_tokens: 5,
        }
    }
}

#[derive(Debug)]
struct Shared {
    reply: String,
    usage: MockUsage,
    requests: Mutex<Vec<Value>>,
}

/// A running mock; stops when dropped.
#[derive(Debug)]
pub struct ResponsesMock {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

impl ResponsesMock {
    /// Start a mock that answers every request with `reply` and the default usage.
    pub async fn start(reply: impl Into<String>) -> std::io::Result<Self> {
        Self::start_with_usage(reply, MockUsage::default()).await
    }

    /// Start a mock that answers with `reply` and reports `usage`.
    pub async fn start_with_usage(
        reply: impl Into<String>,
        usage: MockUsage,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            reply: reply.into(),
            usage,
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/responses", post(responses))
            .route("/v1/models", get(models))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            _stop: stop,
        })
    }

    /// `http://127.0.0.1:<port>` (append `/v1` for a Responses API base URL).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many `POST /v1/responses` requests arrived.
    pub fn request_count(&self) -> usize {
        self.requests().len()
    }

    /// The JSON bodies of the requests, in arrival order (unparsable ones as strings).
    pub fn requests(&self) -> Vec<Value> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

async fn models() -> Json<Value> {
    Json(json!({ "object": "list", "data": [] }))
}

fn sse(event: &Value) -> String {
    let name = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    format!("event: {name}\ndata: {event}\n\n")
}

async fn responses(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&body).into_owned()));
    let model = parsed
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model")
        .to_string();
    if let Ok(mut r) = shared.requests.lock() {
        r.push(parsed);
    }
    let n = shared.requests.lock().map(|r| r.len()).unwrap_or(0);
    let id = format!("resp_mock_{n}");
    let u = shared.usage;
    let events = [
        json!({"type": "response.created", "sequence_number": 0,
               "response": {"id": id, "object": "response", "status": "in_progress", "model": model, "output": []}}),
        json!({"type": "response.output_item.done", "sequence_number": 1, "output_index": 0,
               "item": {"type": "message", "id": format!("msg_mock_{n}"), "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": shared.reply, "annotations": []}]}}),
        json!({"type": "response.completed", "sequence_number": 2,
               "response": {"id": id, "object": "response", "status": "completed", "model": model, "output": [],
                            "usage": {"input_tokens": u.input_tokens,
                                      "input_tokens_details": {"cached_tokens": 0},
                                      "output_tokens": u.output_tokens,
                                      "output_tokens_details": {"reasoning_tokens": 0},
                                      "total_tokens": u.input_tokens + u.output_tokens}}}),
    ];
    let body: String = events.iter().map(sse).collect();
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
