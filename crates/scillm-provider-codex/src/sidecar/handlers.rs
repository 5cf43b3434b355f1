//! The route handlers: `/healthz`, `/v1/models`, chat completions (echo → forward →
//! credentials preflight → Codex CLI), and OpenAI-style 404/405 answers.

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::extract::ChatBody;
use super::meter::TurnMeter;
use super::state::Sidecar;
use scillm_core::config::CodexBackend;
use scillm_serve::ApiError;

use super::{answer, app_server, echo, exec, forward, preflight, request};

/// `GET /healthz`.
pub async fn healthz(State(sidecar): State<Sidecar>) -> Json<Value> {
    let sc = &sidecar.config().sidecar;
    let limiter = &sidecar.inner.limiter;
    Json(json!({
        "ok": true,
        "concurrency": limiter.max(),
        "in_flight": limiter.in_use(),
        "queued": limiter.waiting(),
        "auth_present": preflight::auth_present(&sidecar),
        "forward_mode": sc.forward_base.is_some(),
        "echo": sc.echo,
        "backend": sc.backend.as_str(),
        "codex_version": sidecar.inner.app_server.version(),
        "app_server": sidecar.inner.app_server.health(),
        "rate_limits": sidecar.inner.app_server.rate_limits(),
    }))
}

/// `GET /v1/models`.
pub async fn models(State(sidecar): State<Sidecar>) -> Json<Value> {
    let data: Vec<Value> = sidecar
        .config()
        .sidecar
        .models
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "object": "model",
                "created": 0,
                "owned_by": "codex",
                "capabilities": { "chat": true },
            })
        })
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// `POST /v1/chat/completions` and `POST /chat/completions`.
pub async fn chat(State(sidecar): State<Sidecar>, body: ChatBody) -> Response {
    let sc = &sidecar.config().sidecar;
    let req = &body.request;
    if sc.echo {
        return echo::respond(req, &sc.echo_reply);
    }
    if let Some(base) = forward::target(&sidecar, body.force_local, req) {
        return forward::forward(&sidecar, &base, &body.raw, req.is_stream()).await;
    }
    match run_codex(&sidecar, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// The chat answered by Codex through the configured backend.
async fn run_codex(
    sidecar: &Sidecar,
    req: &scillm_core::wire::ChatRequest,
) -> Result<Response, ApiError> {
    let prepared = request::prepare(sidecar, req).await?;
    let backend = sidecar.config().sidecar.backend;
    let handle = match backend {
        CodexBackend::Exec => exec::start(sidecar, prepared),
        CodexBackend::AppServer => app_server::start(sidecar, prepared)
            .await
            .inspect_err(|e| TurnMeter::refused(backend, e))?,
    };
    Ok(if req.is_stream() {
        answer::stream(handle, &req.model).await
    } else {
        answer::complete(handle, &req.model).await
    })
}

/// Any unknown route.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::for_status(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {method} {}: this sidecar serves GET /healthz, GET /v1/models and POST /v1/chat/completions",
            uri.path()
        ),
    )
}

/// A known route with the wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::for_status(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
