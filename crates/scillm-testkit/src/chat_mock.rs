//! A programmable OpenAI chat-completions upstream on an ephemeral loopback port.
//!
//! Each request is recorded, counted and checked; its reply comes from a script (a queue
//! of replies used in order), else from a responder function, else a default answer.
//! Replies can be delayed, carry any status and a `Retry-After`, and `stream: true`
//! requests get server-sent events. The mock tracks how many requests are in flight and
//! the most it ever saw at once.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use scillm_testkit::chat_mock::{ChatMock, MockReply};
//! let mock = ChatMock::builder()
//!     .then(MockReply::status(503).with_retry_after("0"))
//!     .content("hello")
//!     .start()
//!     .await
//!     .unwrap();
//! assert!(mock.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(mock.request_count(), 0);
//! # });
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;

mod handler;

/// Decides the reply to a request.
pub type Responder = Arc<dyn Fn(&RecordedRequest) -> MockReply + Send + Sync>;
/// Checks a request body; an `Err` is answered with 400 and kept in [`ChatMock::body_failures`].
pub type BodyCheck = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// One reply of the mock.
#[derive(Debug, Clone)]
pub struct MockReply {
    /// HTTP status.
    pub status: u16,
    /// The assistant content of a 2xx completion (ignored when `body` or `raw` is set).
    pub content: String,
    /// A JSON body sent as is.
    pub body: Option<Value>,
    /// A raw body sent as is (e.g. a 200 that is not JSON).
    pub raw: Option<String>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// `Retry-After` header value.
    pub retry_after: Option<String>,
    /// Further response headers (set last: a `content-type` here wins).
    pub headers: Vec<(String, String)>,
}

impl MockReply {
    /// A 200 completion with `content`.
    pub fn ok(content: impl Into<String>) -> Self {
        Self {
            status: 200,
            content: content.into(),
            body: None,
            raw: None,
            delay: Duration::ZERO,
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// An error `status` with an OpenAI error body.
    pub fn status(status: u16) -> Self {
        let body = json!({"error": {"message": format!("mock upstream answered {status}"),
            "type": "mock_error", "code": status}});
        Self {
            body: Some(body),
            ..Self::ok("").with_status(status)
        }
    }

    /// A raw body with `status`.
    pub fn raw(status: u16, body: impl Into<String>) -> Self {
        Self {
            raw: Some(body.into()),
            ..Self::ok("").with_status(status)
        }
    }

    /// Set the status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Answer after `delay`.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Send header `name: value` (e.g. `retry-after-ms`, or `content-type:
    /// text/event-stream` for a raw SSE body).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Send `Retry-After: value`.
    pub fn with_retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// 0-based arrival order.
    pub seq: usize,
    /// The request path.
    pub path: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    /// When the request arrived (for measuring the gap between retries).
    pub at: std::time::Instant,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `model` field.
    pub fn model(&self) -> &str {
        self.body.get("model").and_then(Value::as_str).unwrap_or("")
    }

    /// The text of the last message (string content, or its text parts joined).
    pub fn last_text(&self) -> String {
        let content = self
            .body
            .get("messages")
            .and_then(Value::as_array)
            .and_then(|m| m.last())
            .and_then(|m| m.get("content"));
        match content {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }
}

/// Shared state of a running mock.
pub(super) struct MockState {
    pub(super) script: Mutex<VecDeque<MockReply>>,
    pub(super) responder: Option<Responder>,
    pub(super) check: Option<BodyCheck>,
    pub(super) record: bool,
    pub(super) default: MockReply,
    pub(super) count: AtomicUsize,
    pub(super) in_flight: AtomicUsize,
    pub(super) max_in_flight: AtomicUsize,
    pub(super) requests: Mutex<Vec<RecordedRequest>>,
    pub(super) failures: Mutex<Vec<String>>,
}

/// Configures a [`ChatMock`].
pub struct ChatMockBuilder {
    script: Vec<MockReply>,
    responder: Option<Responder>,
    check: Option<BodyCheck>,
    record: bool,
    default: MockReply,
    port: u16,
}

impl ChatMockBuilder {
    /// Queue `reply` for the next unscripted request (replies are used in order).
    pub fn then(mut self, reply: MockReply) -> Self {
        self.script.push(reply);
        self
    }

    /// Queue several replies.
    pub fn script(mut self, replies: impl IntoIterator<Item = MockReply>) -> Self {
        self.script.extend(replies);
        self
    }

    /// Decide replies with `f` once the script is used up.
    pub fn respond_with(
        mut self,
        f: impl Fn(&RecordedRequest) -> MockReply + Send + Sync + 'static,
    ) -> Self {
        self.responder = Some(Arc::new(f));
        self
    }

    /// Check every body with `f`.
    pub fn check_body(
        mut self,
        f: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(f));
        self
    }

    /// Keep every request (default on; turn off for benchmarks).
    pub fn record(mut self, on: bool) -> Self {
        self.record = on;
        self
    }

    /// The default answer's content (default `mock ok`).
    pub fn content(mut self, content: impl Into<String>) -> Self {
        self.default.content = content.into();
        self
    }

    /// Delay every default answer by `latency`.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.default.delay = latency;
        self
    }

    /// Bind this port instead of an ephemeral one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Bind `127.0.0.1` and start serving.
    pub async fn start(self) -> std::io::Result<ChatMock> {
        let state = Arc::new(MockState {
            script: Mutex::new(self.script.into()),
            responder: self.responder,
            check: self.check,
            record: self.record,
            default: self.default,
            count: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(handler::chat))
            .route("/chat/completions", post(handler::chat))
            .route("/healthz", get(|| async { Json(json!({"ok": true})) }))
            .route(
                "/v1/models",
                get(|| async {
                    Json(json!({"object": "list", "data": [{"id": "mock", "object": "model"}]}))
                }),
            )
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(ChatMock {
            addr,
            state,
            shutdown: Some(tx),
        })
    }
}

/// A running mock upstream; stops when dropped.
pub struct ChatMock {
    addr: SocketAddr,
    state: Arc<MockState>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl ChatMock {
    /// A builder with the defaults: record on, answer `mock ok` at once.
    pub fn builder() -> ChatMockBuilder {
        ChatMockBuilder {
            script: Vec::new(),
            responder: None,
            check: None,
            record: true,
            default: MockReply::ok("mock ok"),
            port: 0,
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}` (no `/v1`, as every base here).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far (recorded or not).
    pub fn request_count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests ever handled at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// The recorded requests, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The messages of failed body checks.
    pub fn body_failures(&self) -> Vec<String> {
        self.state
            .failures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }
}

impl Drop for ChatMock {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
