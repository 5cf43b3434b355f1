//! The shim's endpoints.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream;
use scillm_core::config::secs;
use scillm_core::wire::{ChatChunk, ChatRequest, ChatResponse, Delta, Message, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiJson};
use super::ShimState;
use crate::agent::{last_user_text, AgentRequest, AgentRun};

/// The model id the shim lists and answers to.
pub const SHIM_MODEL_ID: &str = "mini-agent";

/// `GET /ready`.
pub async fn ready() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// `GET /healthz`: mode, model, tools and the sandbox protections in force.
pub async fn healthz(State(state): State<Arc<ShimState>>) -> Json<Value> {
    let http_tools: Vec<String> = match &state.agent {
        Some(agent) => agent
            .toolbox()
            .http_tools()
            .await
            .into_iter()
            .map(|d| d.name)
            .collect(),
        None => Vec::new(),
    };
    Json(json!({
        "ok": true,
        "mode": if state.echo { "echo" } else { "agent" },
        "model": state.config.mini_agent.model,
        "tools": crate::tools::BUILTIN_TOOLS,
        "http_tools": http_tools,
        "sandbox": state.sandbox.protections(),
        "traces": state.traces.as_ref().map(|t| t.path().display().to_string()),
        "auth_required": state.api_key.is_some(),
    }))
}

/// `GET /v1/models`.
pub async fn models(State(state): State<Arc<ShimState>>) -> Json<Value> {
    let mut ids = vec![SHIM_MODEL_ID.to_string()];
    ids.extend(
        state
            .config
            .mini_agent
            .model
            .clone()
            .filter(|m| m != SHIM_MODEL_ID),
    );
    let data: Vec<Value> = ids
        .into_iter()
        .map(|id| json!({ "id": id, "object": "model", "owned_by": "scillm", "capabilities": { "chat": true } }))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// `POST /v1/chat/completions` (and `/chat/completions`): the agent's final answer as a
/// completion, with the run's details under `mini_agent`.
pub async fn chat_completions(
    State(state): State<Arc<ShimState>>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    req.validate().map_err(ApiError::from)?;
    let id = format!("chatcmpl-mini-{}", uuid_like());
    let (text, details) = if state.echo {
        (
            last_user_text(&req.messages),
            json!({ "mode": "echo", "iterations": 0, "stopped_reason": "success", "tool_invocations": [] }),
        )
    } else {
        let run = run_agent(
            &state,
            "/v1/chat/completions",
            &req.model,
            AgentRequest {
                messages: req.messages.clone(),
                model: inner_model(&req.model),
                ..AgentRequest::default()
            },
        )
        .await?;
        (run.final_answer.clone(), run.details())
    };
    if req.is_stream() {
        return Ok(stream_answer(id, req.model, text, details));
    }
    let mut resp = ChatResponse::from_text(id, req.model, text);
    resp.extra.insert("mini_agent".into(), details);
    Ok(Json(resp).into_response())
}

/// The body of `POST /agent/run`: `messages` or a `prompt`, and optional limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRunBody {
    /// The conversation.
    #[serde(default)]
    pub messages: Option<Vec<Message>>,
    /// A task, as one user message.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The model to drive.
    #[serde(default)]
    pub model: Option<String>,
    /// A lower turn limit.
    #[serde(default)]
    pub max_iterations: Option<u32>,
    /// A shorter budget in seconds.
    #[serde(default)]
    pub budget_s: Option<f64>,
}

/// `POST /agent/run` → `{ok, final_answer, stopped_reason, messages, metrics{…}}`.
pub async fn agent_run(
    State(state): State<Arc<ShimState>>,
    ApiJson(body): ApiJson<AgentRunBody>,
) -> Result<Json<Value>, ApiError> {
    let mut messages = body.messages.unwrap_or_default();
    if let Some(p) = body.prompt.filter(|p| !p.trim().is_empty()) {
        messages.push(Message::user(p));
    }
    if messages.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send `messages` or a `prompt`",
        ));
    }
    let request_model = body.model.clone().unwrap_or_default();
    if state.echo {
        let answer = last_user_text(&messages);
        messages.push(Message::assistant(answer.clone()));
        return Ok(Json(json!({
            "ok": true,
            "final_answer": answer,
            "stopped_reason": "success",
            "messages": messages,
            "metrics": { "iterations": 0, "ttotal_ms": 0, "escalated": false, "used_model": "echo" },
        })));
    }
    let run = run_agent(
        &state,
        "/agent/run",
        &request_model,
        AgentRequest {
            messages,
            model: inner_model(&request_model),
            max_iterations: body.max_iterations,
            budget: body.budget_s.map(secs).filter(|d| *d > Duration::ZERO),
        },
    )
    .await?;
    Ok(Json(run.envelope()))
}

/// 404 for every other route.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route {uri}: the mini-agent serves /ready, /healthz, /v1/models, /v1/chat/completions and /agent/run"))
}

/// 405 for a known route with another method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method_not_allowed",
        format!("{method} is not allowed on {uri}"),
    )
}

async fn run_agent(
    state: &ShimState,
    endpoint: &str,
    request_model: &str,
    req: AgentRequest,
) -> Result<AgentRun, ApiError> {
    let agent = state.agent.as_ref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "no_model",
            "the mini-agent has no model client",
        )
    })?;
    let run = agent.run(req).await?;
    if let Some(t) = &state.traces {
        t.record(endpoint, request_model, &run).await;
    }
    Ok(run)
}

/// The model the agent drives for a request naming `model`: the shim's own id (or an
/// empty one) means the configured model; `mini-agent/<m>` means `<m>`.
pub fn inner_model(model: &str) -> Option<String> {
    let m = model.trim();
    let m = m
        .strip_prefix("mini-agent/")
        .or_else(|| m.strip_prefix("mini_agent/"))
        .unwrap_or(m);
    (!m.is_empty() && m != SHIM_MODEL_ID && m != "mini_agent").then(|| m.to_string())
}

fn stream_answer(id: String, model: String, text: String, details: Value) -> Response {
    let first = ChatChunk::delta(
        &id,
        &model,
        Delta {
            role: Some(Role::Assistant),
            ..Delta::default()
        },
        None,
    );
    let body = ChatChunk::delta(&id, &model, Delta::text(text), None);
    let mut last = ChatChunk::delta(&id, &model, Delta::default(), Some("stop".into()));
    last.extra.insert("mini_agent".into(), details);
    let events: Vec<Result<Event, Infallible>> = [first, body, last]
        .iter()
        .map(|c| Ok(Event::default().data(serde_json::to_string(c).unwrap_or_default())))
        .chain(std::iter::once(Ok(Event::default().data("[DONE]"))))
        .collect();
    Sse::new(stream::iter(events)).into_response()
}

/// A short unique-enough id suffix (time and a process-wide counter).
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
