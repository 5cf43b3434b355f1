//! The axum router: routes, OpenAI-style fallbacks, `GET /metrics`, inbound auth and the
//! foundation's layers (request ids, trace spans, request counts, body limit).

use axum::routing::{get, post};
use axum::Router;
use scillm_serve::{BearerAuth, ServerLayers};

use super::handlers::{chat, healthz, method_not_allowed, models, not_found};
use super::state::Sidecar;

/// Paths reachable without `CODEX_SIDECAR_API_KEY`: the health check and the metrics
/// scrape (no secrets, no request text in it).
pub const OPEN_PATHS: &[&str] = &["/healthz", "/metrics"];

/// The sidecar's routes over `sidecar`'s state, ready for `scillm_serve::serve` or an
/// in-process test.
pub fn router(sidecar: Sidecar) -> Router {
    let sc = &sidecar.config().sidecar;
    let layers = ServerLayers {
        component: "sidecar",
        max_body_bytes: sc.max_body_bytes.max(1),
        // Chats are bounded by ABS_TIMEOUT_S / IDLE_TIMEOUT_S in the backends.
        request_timeout: None,
    };
    let auth = BearerAuth::new(sc.api_key.as_ref(), "CODEX_SIDECAR_API_KEY", OPEN_PATHS);
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route(
            "/metrics",
            scillm_serve::metrics_route(scillm_serve::recorder()),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    layers.apply(auth.layer(routes).with_state(sidecar))
}
