//! The axum router: routes, OpenAI-style fallbacks, the body limit and inbound auth.

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;

use super::auth::require_key;
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
        // The chat extractor refuses a declared length over the limit before reading and
        // maps this limit to the OpenAI 413 body; every handler and fallback answers
        // errors with an OpenAI body itself, so no response-rewriting layer is needed.
        .layer(DefaultBodyLimit::max(max_body));
    // Without a key there is nothing to check: no per-request auth layer at all.
    let routes = if keyed {
        routes.layer(from_fn_with_state(sidecar.clone(), require_key))
    } else {
        routes
    };
    routes.with_state(sidecar)
}
