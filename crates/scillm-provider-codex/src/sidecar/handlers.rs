//! The route handlers: `/healthz`, `/v1/models`, chat completions (echo → forward →
//! credentials preflight → Codex CLI), and OpenAI-style 404/405 answers.

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::ChatBody;
use super::state::Sidecar;
use super::{cli_chat, cli_stream, echo, forward, preflight};

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
    let answer = if req.is_stream() {
        cli_stream::stream(&sidecar, req).await
    } else {
        cli_chat::complete(&sidecar, req).await
    };
    answer.unwrap_or_else(IntoResponse::into_response)
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
