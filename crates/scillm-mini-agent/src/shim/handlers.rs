//! The shim's endpoints.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream;
use scillm_core::wire::{ChatChunk, ChatRequest, ChatResponse, Delta, Message, Role, Usage};
use serde_json::{json, Value};

use super::run_body::AgentRunBody;
use super::ShimState;
use crate::agent::{AgentRequest, AgentRun, EventSink};
use scillm_serve::{completion_id, ApiError, ApiJson};

/// The model id the shim lists and answers to.
pub const SHIM_MODEL_ID: &str = "mini-agent";

/// `GET /ready`.
pub async fn ready() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// `GET /healthz`: mode, model, tools, `sandbox` (`bubblewrap`, `none` when
/// `MINI_AGENT_ALLOW_UNSANDBOXED=1` let tools run without it, `unavailable` when exec tools
/// are refused), the protections in force and admission. Never fetches anything.
pub async fn healthz(State(state): State<Arc<ShimState>>) -> Json<Value> {
    let http_tools = match state.agent.as_ref().and_then(|a| a.toolbox().http()) {
        Some(h) => h.cached_names().await.unwrap_or_default(),
        None => Vec::new(),
    };
    let protections = state.sandbox.protections();
    Json(json!({
        "ok": true,
        "mode": if state.echo { "echo" } else { "agent" },
        "model": state.config.mini_agent.model,
        "tools": crate::tools::BUILTIN_TOOLS,
        "http_tools": http_tools,
        "sandbox": protections.isolation,
        "sandbox_protections": protections,
        "admission": state.admission.stats(),
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
/// completion, with the run's details under `mini_agent`; with `stream: true` the run's
/// progress as it happens, then the answer.
pub async fn chat_completions(
    State(state): State<Arc<ShimState>>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    req.validate().map_err(ApiError::from)?;
    let id = completion_id();
    if state.echo {
        let details = json!({ "mode": "echo", "iterations": 0, "stopped_reason": "success", "tool_invocations": [] });
        let stream = req.is_stream();
        return Ok(echo_answer(
            id,
            req.model,
            state.echo_reply(),
            details,
            stream,
        ));
    }
    let slot = state.admission.admit().await?;
    let agent_req = AgentRequest {
        messages: req.messages.clone(),
        model: inner_model(&req.model),
        ..AgentRequest::default()
    };
    if req.is_stream() {
        let model = req.model.clone();
        return Ok(super::stream::stream_run(
            Arc::clone(&state),
            slot,
            id,
            model.clone(),
            model,
            agent_req,
        ));
    }
    let run = run_agent_events(
        &state,
        "/v1/chat/completions",
        &req.model,
        agent_req,
        &EventSink::default(),
    )
    .await?;
    drop(slot);
    let mut resp = ChatResponse::from_text(id, req.model, run.final_answer.clone());
    resp.extra.insert("mini_agent".into(), run.details());
    Ok(Json(resp).into_response())
}

/// `POST /agent/run` → `{ok, final_answer, stopped_reason, messages, metrics{iterations,
/// ttotal_ms, escalated, used_model}, mini_agent{warnings, …}}`. Accepts the Python
/// original's fields (SPEC §15); unknown fields are listed in `mini_agent.warnings`.
pub async fn agent_run(
    State(state): State<Arc<ShimState>>,
    ApiJson(mut body): ApiJson<AgentRunBody>,
) -> Result<Json<Value>, ApiError> {
    let mut messages = body.conversation()?;
    let warnings = body.warnings();
    if !warnings.is_empty() {
        tracing::info!(?warnings, "/agent/run: ignored parts of the request");
    }
    let request_model = body.model.clone().unwrap_or_default();
    if state.echo {
        let answer = state.echo_reply();
        messages.push(Message::assistant(answer.clone()));
        return Ok(Json(json!({
            "ok": true,
            "final_answer": answer,
            "stopped_reason": "success",
            "messages": messages,
            "metrics": { "iterations": 0, "ttotal_ms": 0, "escalated": false, "used_model": "echo" },
            "usage": zero_usage(),
            "mini_agent": { "mode": "echo", "warnings": warnings },
        })));
    }
    let agent = state.agent()?;
    let backend = body.backend(agent.toolbox())?;
    let req = body.agent_request(messages, backend);
    let slot = state.admission.admit().await?;
    let mut run = run_agent_events(
        &state,
        "/agent/run",
        &request_model,
        req,
        &EventSink::default(),
    )
    .await?;
    drop(slot);
    run.warnings = warnings;
    Ok(Json(run.envelope()))
}

/// 404 for every other route.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("not_found", format!("no route {uri}: the mini-agent serves /ready, /healthz, /v1/models, /v1/chat/completions and /agent/run"))
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

/// Run the agent for a request to `endpoint`, sending progress to `events`, and record
/// the trace.
pub(super) async fn run_agent_events(
    state: &ShimState,
    endpoint: &str,
    request_model: &str,
    req: AgentRequest,
    events: &EventSink,
) -> Result<AgentRun, ApiError> {
    let agent = state.agent()?;
    let run = agent.run_with_events(req, events).await?;
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

fn zero_usage() -> Usage {
    Usage::default()
}

/// Echo mode's answer: `text` with zero usage, as a completion or a stream.
fn echo_answer(id: String, model: String, text: String, details: Value, stream: bool) -> Response {
    if !stream {
        let mut resp = ChatResponse::from_text(id, model, text);
        resp.usage = Some(zero_usage());
        resp.extra.insert("mini_agent".into(), details);
        return Json(resp).into_response();
    }
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
    last.usage = Some(zero_usage());
    last.extra.insert("mini_agent".into(), details);
    let events: Vec<Result<Event, Infallible>> = [first, body, last]
        .iter()
        .map(|c| Ok(Event::default().data(serde_json::to_string(c).unwrap_or_default())))
        .chain(std::iter::once(Ok(Event::default().data("[DONE]"))))
        .collect();
    Sse::new(stream::iter(events)).into_response()
}
