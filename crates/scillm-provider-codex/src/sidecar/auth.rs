//! Inbound auth: with `CODEX_SIDECAR_API_KEY` set, every route but `/healthz` needs
//! `Authorization: Bearer <key>`, compared in constant time.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::Sidecar;

/// Middleware: reject requests without the configured bearer key.
pub async fn require_key(State(sidecar): State<Sidecar>, req: Request, next: Next) -> Response {
    let Some(key) = &sidecar.config().sidecar.api_key else {
        return next.run(req).await;
    };
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(g) if bool::from(g.as_bytes().ct_eq(key.expose_secret().as_bytes())) => {
            next.run(req).await
        }
        Some(_) => ApiError::unauthorized(
            "invalid_api_key",
            "the API key is not valid for this sidecar (CODEX_SIDECAR_API_KEY)",
        )
        .into_response(),
        None => ApiError::unauthorized(
            "missing_api_key",
            "this sidecar requires an API key: send Authorization: Bearer <CODEX_SIDECAR_API_KEY>",
        )
        .into_response(),
    }
}
