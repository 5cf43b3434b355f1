//! The gateway's routes, the key check in front of them, `/v1/models` and `/healthz`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use scillm_serve::{ApiError, ServerLayers};
use serde_json::{json, Value};

use crate::batch::routes as batch_routes;
use crate::chat::{add_unrouted_headers, chat_completions, is_chat_path};
use crate::keys::ClientKey;
use crate::state::Gateway;

/// The client key of a request (`None` when the gateway has no keys), put into the
/// request's extensions by the key check.
pub type SharedKey = Option<Arc<ClientKey>>;

/// Paths reachable without a key: health checks and metrics scrapes.
const OPEN_PATHS: &[&str] = &["/healthz", "/metrics"];

/// The whole application: routes, key check and the shared server layers.
pub fn app(gw: Gateway) -> axum::Router {
    let limits = ServerLayers {
        component: "gateway",
        max_body_bytes: gw.config().gateway.max_body_bytes,
        request_timeout: gw
            .config()
            .gateway
            .request_timeout_s
            .map(scillm_core::config::secs),
    };
    let routes = axum::Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/healthz", get(healthz))
        .route("/metrics", scillm_serve::metrics_route(gw.metrics()))
        .merge(batch_routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            require_key,
        ))
        .with_state(gw);
    limits.apply(routes)
}

/// Middleware: find the request's key (401 when keys are configured and it is missing or
/// wrong) and put it into the request's extensions.
async fn require_key(State(gw): State<Gateway>, mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    if OPEN_PATHS.contains(&req.uri().path()) {
        req.extensions_mut().insert::<SharedKey>(None);
        return next.run(req).await;
    }
    match gw.authenticate(req.headers()) {
        Ok(key) => {
            req.extensions_mut().insert::<SharedKey>(key);
            next.run(req).await
        }
        Err(e) => {
            let mut resp = e.into_response();
            if is_chat_path(req.uri().path()) {
                add_unrouted_headers(&mut resp, started);
            }
            resp
        }
    }
}

/// `GET /v1/models`: the model names this key may use, as OpenAI's model list.
async fn models(State(gw): State<Gateway>, Extension(key): Extension<SharedKey>) -> Json<Value> {
    let data: Vec<Value> = gw
        .visible_models(key.as_deref())
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "scillm"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// `GET /healthz`.
async fn healthz(State(gw): State<Gateway>) -> Json<Value> {
    Json(json!({
        "ok": true,
        "models": gw.visible_models(None).len(),
        "auth": gw.has_keys(),
        "batches_running": gw.batches().running(),
        "uptime_s": gw.uptime_s(),
    }))
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(
        "not_found",
        format!(
            "no route {} {}: the gateway serves /v1/chat/completions, /v1/models, /v1/files, /v1/batches, /healthz and /metrics",
            req.method(),
            req.uri().path()
        ),
    )
}
