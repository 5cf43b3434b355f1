//! A mock OpenAI Responses API model server on an ephemeral loopback port, for driving the
//! real Codex CLI without any network.
//!
//! `POST /v1/responses` is answered as `text/event-stream`: `response.created`, the reply
//! as `response.output_text.delta` events, then `response.output_item.done` with an
//! assistant `message` item holding the reply as `output_text`, then `response.completed`
//! with `usage`. Every request body is recorded (so a test can read its `text.format`
//! JSON schema or its `reasoning.effort`).
//!
//! [`ResponsesMock::hold`] makes later answers stop after `response.created` and wait
//! until [`ResponsesMock::release`]; [`ResponsesMock::dropped`] counts held streams whose
//! client went away (e.g. a turn that was interrupted).
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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};

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
    hold: AtomicBool,
    released: Notify,
    held: AtomicUsize,
    dropped: AtomicUsize,
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
            hold: AtomicBool::new(false),
            released: Notify::new(),
            held: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
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

    /// From now on, answers stop after `response.created` and wait for [`Self::release`].
    pub fn hold(&self) {
        self.shared.hold.store(true, Ordering::SeqCst);
    }

    /// Let held answers finish, and stop holding new ones.
    pub fn release(&self) {
        self.shared.hold.store(false, Ordering::SeqCst);
        self.shared.released.notify_waiters();
    }

    /// How many answers are being held now.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// How many held answers were dropped by their client before being released.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
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
    let msg_id = format!("msg_mock_{n}");
    let created = json!({"type": "response.created", "sequence_number": 0,
               "response": {"id": id, "object": "response", "status": "in_progress", "model": model, "output": []}});
    let events = [
        json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
               "item": {"type": "message", "id": msg_id, "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.output_text.delta", "sequence_number": 2, "output_index": 0, "content_index": 0,
               "item_id": msg_id, "delta": shared.reply}),
        json!({"type": "response.output_item.done", "sequence_number": 3, "output_index": 0,
               "item": {"type": "message", "id": format!("msg_mock_{n}"), "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": shared.reply, "annotations": []}]}}),
        json!({"type": "response.completed", "sequence_number": 4,
               "response": {"id": id, "object": "response", "status": "completed", "model": model, "output": [],
                            "usage": {"input_tokens": u.input_tokens,
                                      "input_tokens_details": {"cached_tokens": 0},
                                      "output_tokens": u.output_tokens,
                                      "output_tokens_details": {"reasoning_tokens": 0},
                                      "total_tokens": u.input_tokens + u.output_tokens}}}),
    ];
    let rest: String = events.iter().map(sse).collect();
    let body = if shared.hold.load(Ordering::SeqCst) {
        held_body(Arc::clone(&shared), sse(&created), rest)
    } else {
        Body::from(sse(&created) + &rest)
    };
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Counts a held answer as dropped unless it was released first.
struct HeldGuard {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for HeldGuard {
    fn drop(&mut self) {
        self.shared.held.fetch_sub(1, Ordering::SeqCst);
        if !self.done {
            self.shared.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `first`, then `rest` once the mock is released.
fn held_body(shared: Arc<Shared>, first: String, rest: String) -> Body {
    shared.held.fetch_add(1, Ordering::SeqCst);
    let guard = HeldGuard {
        shared,
        done: false,
    };
    let stream = futures::stream::unfold(
        (0u8, Some(guard), first, rest),
        |(step, guard, first, rest)| async move {
            let mut guard = guard?;
            match step {
                0 => Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(first)),
                    (1, Some(guard), String::new(), rest),
                )),
                _ => {
                    // Registered before the check, so a release in between is not missed.
                    let released = guard.shared.released.notified();
                    if guard.shared.hold.load(Ordering::SeqCst) {
                        released.await;
                    }
                    guard.done = true;
                    Some((
                        Ok(Bytes::from(rest)),
                        (2, None, String::new(), String::new()),
                    ))
                }
            }
        },
    );
    Body::from_stream(stream)
}
