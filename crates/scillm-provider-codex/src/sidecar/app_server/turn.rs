//! One request on the app-server: a thread (`thread/start {ephemeral, sandbox, approvalPolicy:
//! "never"}`, or the spare one started ahead), `turn/start {threadId, input, model?, effort?,
//! outputSchema?}`, then the
//! thread's notifications as [`TurnEvent`]s until `turn/completed`. A client that goes
//! away, `ABS_TIMEOUT_S` and `IDLE_TIMEOUT_S` send `turn/interrupt`; the child exiting
//! ends the turn with its 502.

use std::sync::Arc;

use scillm_core::wire::Usage;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::protocol::{
    method, notification, ThreadTokenUsage, ThreadUnsubscribeParams, TurnInterruptParams,
    TurnStartParams, TurnStartResponse, UserInput,
};
use super::rpc::{Conn, Notification};
use super::{spare, AppServer};
use crate::sidecar::answer::TurnHandle;
use crate::sidecar::meter::TurnMeter;
use crate::sidecar::request::Prepared;
use crate::sidecar::state::Sidecar;
use crate::sidecar::turn::{Phase, TurnEvent};
use scillm_core::config::CodexBackend;
use scillm_serve::ApiError;

/// Start a turn for `prepared`; its events arrive on the returned handle. Refused with 429
/// while the CLI reports a rate-limit window at 100 %; a child that cannot be started is
/// a 502.
pub async fn start(sidecar: &Sidecar, prepared: Prepared) -> Result<TurnHandle, ApiError> {
    let app = &sidecar.inner.app_server;
    if let Some(wait) = app.quota_exhausted_for() {
        let mut e = ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "codex_quota_exhausted",
            format!("the Codex account's rate-limit window is used up; it resets in {wait}s"),
        );
        e.retry_after_s = Some(wait.max(1));
        return Err(e);
    }
    let conn = app.connection(&sidecar.inner.cli).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let schema_mode = prepared.schema.as_ref().map(|s| s.mode);
    tokio::spawn(run(sidecar.clone(), conn, prepared, tx));
    Ok(TurnHandle {
        events: rx,
        schema_mode,
        meter: TurnMeter::new(CodexBackend::AppServer),
    })
}

fn timeout(code: &str, what: &str, d: std::time::Duration) -> ApiError {
    ApiError::timeout(
        code,
        format!(
            "the Codex turn {what} ({}s) and was interrupted",
            d.as_secs_f64()
        ),
    )
}

async fn run(
    sidecar: Sidecar,
    conn: Arc<Conn>,
    prepared: Prepared,
    tx: mpsc::UnboundedSender<TurnEvent>,
) {
    let app = sidecar.inner.app_server.clone();
    let limits = sidecar.inner.cli.timeouts();
    let abs = Instant::now() + limits.abs;
    let begun = Instant::now() + limits.idle;
    let started = tokio::select! {
        r = begin(&app, &conn, &prepared, &sidecar.config().sidecar.sandbox) => r,
        _ = sleep_until(abs) => Err(timeout("codex_timeout", "ran longer than ABS_TIMEOUT_S", limits.abs)),
        _ = sleep_until(begun) => Err(timeout("codex_idle_timeout", "did not start within IDLE_TIMEOUT_S", limits.idle)),
        _ = tx.closed() => return,
    };
    let (thread_id, turn_id, mut notes) = match started {
        Ok(ids) => ids,
        Err(e) => {
            let _ = tx.send(TurnEvent::Fatal(e));
            return;
        }
    };
    let mut idle = Instant::now() + limits.idle;
    let mut completed = false;
    let interrupt = loop {
        tokio::select! {
            note = notes.recv() => match note {
                Some(note) => {
                    idle = Instant::now() + limits.idle;
                    let mut end = false;
                    for event in events_of(&note, &turn_id) {
                        completed |= matches!(event, TurnEvent::Completed);
                        end |= matches!(event, TurnEvent::Completed | TurnEvent::Failed(_));
                        if tx.send(event).is_err() {
                            break;
                        }
                    }
                    if end {
                        break false;
                    }
                    if tx.is_closed() {
                        break true;
                    }
                }
                None => {
                    let _ = tx.send(TurnEvent::Fatal(conn.reason()));
                    break false;
                }
            },
            _ = tx.closed() => break true,
            _ = sleep_until(idle) => {
                let _ = tx.send(TurnEvent::Fatal(timeout("codex_idle_timeout", "gave no event for IDLE_TIMEOUT_S", limits.idle)));
                break true;
            },
            _ = sleep_until(abs) => {
                let _ = tx.send(TurnEvent::Fatal(timeout("codex_timeout", "ran longer than ABS_TIMEOUT_S", limits.abs)));
                break true;
            },
        }
    };
    if completed {
        app.turn_succeeded();
    }
    conn.unsubscribe(&thread_id);
    // Interrupting and unloading need no answer to wait for: done in the background so
    // the slot is freed now.
    tokio::spawn(async move {
        if interrupt {
            let params = TurnInterruptParams {
                thread_id: thread_id.clone(),
                turn_id,
            };
            let _ = conn.request::<Value>(method::TURN_INTERRUPT, &params).await;
        }
        let _ = conn
            .request::<Value>(
                method::THREAD_UNSUBSCRIBE,
                &ThreadUnsubscribeParams { thread_id },
            )
            .await;
    });
    drop(prepared);
}

/// `thread/start` then `turn/start`; the thread's notifications are routed before the
/// turn starts, so none is missed.
async fn begin(
    app: &AppServer,
    conn: &Arc<Conn>,
    prepared: &Prepared,
    sandbox: &str,
) -> Result<(String, String, mpsc::UnboundedReceiver<Notification>), ApiError> {
    let thread_id = spare::thread_for_request(app, conn, sandbox, prepared.dir.path()).await?;
    let notes = conn.subscribe(&thread_id);
    let mut input = vec![UserInput::Text {
        text: prepared.prompt.clone(),
    }];
    input.extend(prepared.images.iter().map(|p| UserInput::LocalImage {
        path: p.display().to_string(),
    }));
    let params = TurnStartParams {
        thread_id: thread_id.clone(),
        input,
        model: (!prepared.model.is_empty()).then(|| prepared.model.clone()),
        effort: prepared.effort.clone(),
        output_schema: prepared.schema.as_ref().and_then(|s| s.native().cloned()),
    };
    let turn: Result<TurnStartResponse, ApiError> = conn.request(method::TURN_START, &params).await;
    match turn {
        Ok(t) => Ok((thread_id, t.turn.id, notes)),
        Err(e) => {
            conn.unsubscribe(&thread_id);
            Err(e)
        }
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The text of a `reasoning` item: its summary, else its raw content.
fn reasoning_text(item: &Value) -> String {
    let join = |k: &str| {
        item.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    let summary = join("summary");
    if summary.trim().is_empty() {
        join("content")
    } else {
        summary
    }
}

/// `ThreadTokenUsage.total` as OpenAI usage.
fn usage_of(u: &ThreadTokenUsage) -> Usage {
    let t = &u.total;
    let mut extra = Map::new();
    extra.insert(
        "prompt_tokens_details".into(),
        json!({ "cached_tokens": t.cached_input_tokens }),
    );
    extra.insert(
        "completion_tokens_details".into(),
        json!({ "reasoning_tokens": t.reasoning_output_tokens }),
    );
    Usage {
        prompt_tokens: t.input_tokens,
        completion_tokens: t.output_tokens,
        total_tokens: t.input_tokens + t.output_tokens,
        extra,
    }
}

/// The events of one notification of turn `turn_id`.
pub fn events_of(note: &Notification, turn_id: &str) -> Vec<TurnEvent> {
    let p = &note.params;
    let item = p.get("item").cloned().unwrap_or(Value::Null);
    let item_type = item.get("type").and_then(Value::as_str);
    let phase = || Phase::parse(item.get("phase").and_then(Value::as_str));
    match note.method.as_str() {
        notification::ITEM_STARTED if item_type == Some("agentMessage") => {
            vec![TurnEvent::MessageStarted {
                id: str_of(&item, "id"),
                phase: phase(),
            }]
        }
        notification::ITEM_COMPLETED => match item_type {
            Some("agentMessage") => vec![TurnEvent::MessageCompleted {
                id: str_of(&item, "id"),
                phase: phase(),
                text: str_of(&item, "text"),
            }],
            Some("reasoning") => vec![TurnEvent::ReasoningCompleted {
                id: str_of(&item, "id"),
                text: reasoning_text(&item),
            }],
            _ => Vec::new(),
        },
        notification::AGENT_MESSAGE_DELTA => vec![TurnEvent::MessageDelta {
            id: str_of(p, "itemId"),
            delta: str_of(p, "delta"),
        }],
        notification::REASONING_SUMMARY_DELTA | notification::REASONING_TEXT_DELTA => {
            vec![TurnEvent::ReasoningDelta {
                id: str_of(p, "itemId"),
                delta: str_of(p, "delta"),
            }]
        }
        notification::TOKEN_USAGE => {
            match serde_json::from_value::<ThreadTokenUsage>(p["tokenUsage"].clone()) {
                Ok(u) => vec![TurnEvent::Usage(usage_of(&u))],
                Err(_) => Vec::new(),
            }
        }
        notification::ERROR => vec![TurnEvent::Warning(
            p.get("error")
                .map(|e| str_of(e, "message"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the Codex turn reported an error".into()),
        )],
        notification::TURN_COMPLETED => {
            let turn = &p["turn"];
            if turn.get("id").and_then(Value::as_str) != Some(turn_id) {
                return Vec::new();
            }
            let message = turn
                .get("error")
                .map(|e| str_of(e, "message"))
                .filter(|m| !m.is_empty());
            match turn.get("status").and_then(Value::as_str) {
                Some("completed") => vec![TurnEvent::Completed],
                Some("interrupted") => vec![TurnEvent::Failed(
                    message.unwrap_or_else(|| "the turn was interrupted".into()),
                )],
                _ => vec![TurnEvent::Failed(
                    message.unwrap_or_else(|| "the turn failed".into()),
                )],
            }
        }
        _ => Vec::new(),
    }
}
