//! Shared helpers: configs with fast deterministic retries, a recording wiremock
//! responder, and a raw TCP server for what wiremock cannot do (cut streams, stalls,
//! connection counting).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scillm_core::config::ConfigLoader;
use scillm_core::registry::{self, ProviderSettings};
use scillm_core::wire::{ChatRequest, Message};
use scillm_core::{Config, SharedProvider};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A config pointing codex-agent at `base`, with a fixed jitter seed and millisecond
/// backoff so retry tests run fast; `extra` variables win.
pub fn config(base: &str, extra: &[(&str, &str)]) -> Config {
    let mut env = vec![
        ("CODEX_AGENT_API_BASE", base),
        ("SCILLM_DETERMINISTIC_SEED", "7"),
        ("CODEX_AGENT_RETRY_BASE_MS", "5"),
        ("CODEX_AGENT_MAX_BACKOFF_MS", "20"),
        ("CODEX_AGENT_TIMEOUT_S", "10"),
        ("CODEX_AGENT_DEADLINE_S", "20"),
    ];
    env.extend_from_slice(extra);
    ConfigLoader::new().no_file().env_from(env).load().unwrap()
}

/// The provider registered as `name`, built from `config` through the registry.
pub fn provider(name: &str, config: Config) -> SharedProvider {
    let settings = ProviderSettings {
        config: Arc::new(config),
        ..ProviderSettings::default()
    };
    registry::build(name, &settings).unwrap()
}

/// The codex-agent provider for `base` with `extra` settings.
pub fn codex(base: &str, extra: &[(&str, &str)]) -> SharedProvider {
    provider("codex-agent", config(base, extra))
}

/// `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`.
pub fn hi() -> ChatRequest {
    ChatRequest::new("gpt-5", vec![Message::user("hi")])
}

/// A completion answering `content`.
pub fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-up-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-5",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    })
}

/// A 200 answering `content`.
pub fn ok(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(completion(content))
}

/// Answers with `steps` in order (the last one repeats) and records when each request
/// arrived.
pub struct Sequence {
    steps: Vec<ResponseTemplate>,
    seen: Arc<Mutex<Vec<(Instant, Request)>>>,
}

/// What a [`Sequence`] saw.
#[derive(Clone)]
pub struct Seen(Arc<Mutex<Vec<(Instant, Request)>>>);

impl Seen {
    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The requests, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The time between request `i` and request `i + 1`.
    pub fn gap(&self, i: usize) -> Duration {
        let seen = self.0.lock().unwrap();
        seen[i + 1].0 - seen[i].0
    }
}

impl Respond for Sequence {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        let i = seen.len().min(self.steps.len() - 1);
        seen.push((Instant::now(), request.clone()));
        self.steps[i].clone()
    }
}

/// A mock upstream answering `POST /v1/chat/completions` with `steps` in order.
pub async fn upstream(steps: Vec<ResponseTemplate>) -> (MockServer, Seen) {
    let server = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Sequence {
            steps,
            seen: Arc::clone(&seen),
        })
        .mount(&server)
        .await;
    (server, Seen(seen))
}

/// What a [`RawServer`] connection does after reading a request.
#[derive(Clone)]
pub enum RawReply {
    /// Write these bytes and keep the connection for the next request.
    KeepAlive(Vec<u8>),
    /// Write these bytes and close the connection.
    ThenClose(Vec<u8>),
    /// Write these bytes and then hold the connection open, writing nothing more.
    ThenStall(Vec<u8>),
}

/// A raw HTTP/1.1 server on loopback for cut streams, stalls and connection counting.
pub struct RawServer {
    /// `http://127.0.0.1:port`.
    pub base: String,
    accepted: Arc<AtomicUsize>,
}

impl RawServer {
    /// Serve every request with `reply`.
    pub async fn start(reply: RawReply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(sock, reply.clone()));
            }
        });
        Self { base, accepted }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn serve(mut sock: TcpStream, reply: RawReply) {
    loop {
        if !read_request(&mut sock).await {
            return;
        }
        match &reply {
            RawReply::KeepAlive(bytes) => {
                if sock.write_all(bytes).await.is_err() {
                    return;
                }
            }
            RawReply::ThenClose(bytes) => {
                let _ = sock.write_all(bytes).await;
                let _ = sock.shutdown().await;
                return;
            }
            RawReply::ThenStall(bytes) => {
                let _ = sock.write_all(bytes).await;
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
        }
    }
}

/// Read one request (head and `Content-Length` body); false when the peer closed.
async fn read_request(sock: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return true;
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// An HTTP/1.1 200 with a JSON body and a length (the connection stays usable).
pub fn http_json(body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The head of an SSE answer whose body ends when the connection closes.
pub const SSE_HEAD_CLOSE_DELIMITED: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

/// The head of a chunked SSE answer.
pub const SSE_HEAD_CHUNKED: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

/// `data: {chunk}\n\n` for a chunk adding `text` (and `finish` when given).
pub fn sse_event(text: &str, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-5",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]
    });
    format!("data: {chunk}\n\n")
}

/// `s` as one HTTP/1.1 chunk.
pub fn http_chunk(s: &str) -> String {
    format!("{:x}\r\n{s}\r\n", s.len())
}
