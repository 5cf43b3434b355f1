//! One JSON-RPC connection to a `codex app-server` child over its stdin/stdout: requests
//! matched to responses by id, notifications routed to the turn of their `threadId`,
//! server requests declined, and a line that is no JSON-RPC message closing the
//! connection as `codex_output_unrecognised`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::protocol::{self, notification};
use crate::sidecar::cli::jsonl::unrecognised;
use scillm_serve::ApiError;

/// A server notification.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Its method.
    pub method: String,
    /// Its params.
    pub params: Value,
}

type Reply = Result<Value, ApiError>;

/// A live connection. Cheap to share; closed once, for one reason.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    stdin: tokio::sync::Mutex<ChildStdin>,
    next_id: AtomicI64,
    pending: Mutex<HashMap<i64, oneshot::Sender<Reply>>>,
    threads: Mutex<HashMap<String, mpsc::UnboundedSender<Notification>>>,
    closed: CancellationToken,
    reason: Mutex<Option<ApiError>>,
    rate_limits: Arc<Mutex<Option<Value>>>,
}

/// The 502 of a request whose app-server went away (retriable: the next one restarts it).
pub fn gone(detail: &str) -> ApiError {
    ApiError::upstream(
        "codex_app_server_exited",
        format!("the codex app-server child {detail}; it is restarted for the next request"),
    )
}

impl Conn {
    /// A connection writing to `stdin`; `rate_limits` receives the merged
    /// `account/rateLimits/updated` snapshots.
    pub fn new(stdin: ChildStdin, rate_limits: Arc<Mutex<Option<Value>>>) -> Arc<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            stdin: tokio::sync::Mutex::new(stdin),
            next_id: AtomicI64::new(1),
            pending: Mutex::new(HashMap::new()),
            threads: Mutex::new(HashMap::new()),
            closed: CancellationToken::new(),
            reason: Mutex::new(None),
            rate_limits,
        })
    }

    /// This connection's id, unique in the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Cancelled once the connection is closed.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// Why the connection closed (a 502 when no reason was given).
    pub fn reason(&self) -> ApiError {
        self.reason
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_else(|| gone("closed its connection"))
    }

    /// Close for `reason` (the first reason wins): pending requests fail with it and every
    /// turn's notification channel ends.
    pub fn close(&self, reason: ApiError) {
        if let Ok(mut r) = self.reason.lock() {
            if r.is_none() {
                *r = Some(reason.clone());
            }
        }
        self.closed.cancel();
        let pending: Vec<_> = self
            .pending
            .lock()
            .map(|mut p| p.drain().map(|(_, tx)| tx).collect())
            .unwrap_or_default();
        for tx in pending {
            let _ = tx.send(Err(reason.clone()));
        }
        if let Ok(mut t) = self.threads.lock() {
            t.clear();
        }
    }

    async fn write(&self, message: &Value) -> Result<(), ApiError> {
        let mut line = message.to_string();
        line.push('\n');
        let mut stdin = self.stdin.lock().await;
        let written = async {
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        }
        .await;
        written.map_err(|e| {
            let err = gone(&format!("cannot be written to ({e})"));
            self.close(err.clone());
            err
        })
    }

    /// Send request `method` and wait for its result.
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<T, ApiError> {
        if self.closed.is_cancelled() {
            return Err(self.reason());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, tx);
        }
        let params = serde_json::to_value(params)
            .map_err(|e| ApiError::internal("encode_failed", e.to_string()))?;
        self.write(&json!({ "id": id, "method": method, "params": params }))
            .await?;
        let value = match rx.await {
            Ok(reply) => reply?,
            Err(_) => return Err(self.reason()),
        };
        serde_json::from_value(value).map_err(|e| {
            ApiError::upstream(
                "codex_output_unrecognised",
                format!(
                    "the codex app-server answered `{method}` in an unknown shape ({e}); this sidecar supports Codex CLI {} or newer",
                    crate::MIN_CODEX_CLI_VERSION
                ),
            )
        })
    }

    /// Send notification `method`.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ApiError> {
        let mut m = Map::new();
        m.insert("method".into(), Value::from(method));
        if let Some(p) = params {
            m.insert("params".into(), p);
        }
        self.write(&Value::Object(m)).await
    }

    /// Receive the notifications of `thread_id` until [`Conn::unsubscribe`] or close.
    pub fn subscribe(&self, thread_id: &str) -> mpsc::UnboundedReceiver<Notification> {
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.closed.is_cancelled() {
            if let Ok(mut t) = self.threads.lock() {
                t.insert(thread_id.to_string(), tx);
            }
        }
        rx
    }

    /// Stop routing `thread_id`'s notifications.
    pub fn unsubscribe(&self, thread_id: &str) {
        if let Ok(mut t) = self.threads.lock() {
            t.remove(thread_id);
        }
    }

    /// Handle one line from the server; a line that is no JSON-RPC message closes the
    /// connection.
    async fn on_line(&self, line: &str) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        let Ok(Value::Object(mut msg)) = serde_json::from_str::<Value>(trimmed) else {
            self.close(unrecognised(trimmed));
            return;
        };
        let method = msg.get("method").and_then(Value::as_str).map(String::from);
        let id = msg.get("id").cloned().filter(|i| !i.is_null());
        match (method, id) {
            (Some(method), Some(id)) => self.answer_server_request(&method, id).await,
            (Some(method), None) => {
                let params = msg.remove("params").unwrap_or(Value::Null);
                self.route(Notification { method, params });
            }
            (None, Some(id)) if msg.contains_key("result") || msg.contains_key("error") => {
                let reply = match msg.remove("error") {
                    Some(err) => Err(ApiError::upstream(
                        "codex_app_server_error",
                        format!(
                            "the codex app-server refused the request: {}",
                            err.get("message")
                                .and_then(Value::as_str)
                                .unwrap_or("no message")
                        ),
                    )),
                    None => Ok(msg.remove("result").unwrap_or(Value::Null)),
                };
                let waiter = id
                    .as_i64()
                    .and_then(|id| self.pending.lock().ok().and_then(|mut p| p.remove(&id)));
                if let Some(tx) = waiter {
                    let _ = tx.send(reply);
                }
            }
            _ => self.close(unrecognised(trimmed)),
        }
    }

    /// Decline a request the server sent (SPEC §12: approvals and questions are never
    /// answered yes).
    async fn answer_server_request(&self, method: &str, id: Value) {
        tracing::info!(method, "declined a codex app-server request");
        let reply = match protocol::decline(method) {
            Ok(result) => json!({ "id": id, "result": result }),
            Err((code, message)) => {
                json!({ "id": id, "error": { "code": code, "message": message } })
            }
        };
        let _ = self.write(&reply).await;
    }

    fn route(&self, note: Notification) {
        if note.method == notification::RATE_LIMITS {
            if let Some(snapshot) = note.params.get("rateLimits") {
                merge_rate_limits(&self.rate_limits, snapshot);
            }
            return;
        }
        let Some(thread) = note.params.get("threadId").and_then(Value::as_str) else {
            return;
        };
        let tx = self
            .threads
            .lock()
            .ok()
            .and_then(|t| t.get(thread).cloned());
        if let Some(tx) = tx {
            let _ = tx.send(note);
        }
    }
}

/// Merge a sparse rate-limit update into the last snapshot (null leaves a value as it was).
fn merge_rate_limits(slot: &Mutex<Option<Value>>, update: &Value) {
    let Ok(mut slot) = slot.lock() else {
        return;
    };
    let mut merged = match slot.take() {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(update) = update.as_object() {
        for (k, v) in update {
            if !v.is_null() {
                merged.insert(k.clone(), v.clone());
            }
        }
    }
    *slot = Some(Value::Object(merged));
}

/// Read `stdout` until it ends (the child exited) or the connection closes.
pub async fn read_loop(conn: Arc<Conn>, stdout: ChildStdout) {
    let mut lines = BufReader::new(stdout).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => conn.on_line(&line).await,
                Ok(None) => {
                    conn.close(gone("closed its output (it exited)"));
                    return;
                }
                Err(e) => {
                    conn.close(gone(&format!("output could not be read ({e})")));
                    return;
                }
            },
            _ = conn.closed().cancelled() => return,
        }
    }
}
