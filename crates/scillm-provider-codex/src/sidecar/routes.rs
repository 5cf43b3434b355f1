//! The axum router: routes, OpenAI-style fallbacks, the body limit and inbound auth.

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

use super::auth::require_key;
use super::error::ApiError;
use super::extract::too_large;
use super::handlers::{chat, healthz, method_not_allowed, models, not_found};
use super::state::Sidecar;

/// The sidecar's routes over `sidecar`'s state, ready for `scillm_serve::serve` or an in-process test.
pub fn router(sidecar: Sidecar) -> Router {
    let max_body = sidecar.config().sidecar.max_body_bytes.max(1);
    let keyed = sidecar.config().sidecar.api_key.is_some();
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(map_response(openai_errors));
    // Without a key there is nothing to check: no per-request auth layer at all.
    let routes = if keyed {
        routes.layer(from_fn_with_state(sidecar.clone(), require_key))
    } else {
        routes
    };
    routes.with_state(sidecar)
}

/// Give error answers made by layers (413 from the body limit, …) an OpenAI body.
async fn openai_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let err = if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        let reason = status.canonical_reason().unwrap_or("error");
        ApiError::for_status(status, format!("HTTP {}: {reason}", status.as_u16()))
    };
    let mut out = err.into_response();
    // Keep headers the layer set (e.g. Retry-After); the body and its headers are ours.
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut()
                .entry(name.clone())
                .or_insert(value.clone());
        }
    }
    out
}
