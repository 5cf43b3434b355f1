//! The OpenAI-compatible shim (default `127.0.0.1:8788`): `GET /ready`, `GET /healthz`,
//! `GET /metrics`, `GET /v1/models`, `POST /v1/chat/completions`, `POST /agent/run`.
//!
//! It runs on the server foundation `scillm-serve`: its error type and JSON extractor,
//! bearer auth (with `MINI_AGENT_API_KEY`, every route but `/ready`, `/healthz` and
//! `/metrics` needs `Authorization: Bearer <key>`), bind policy (loopback unless a key is
//! set or `allow_insecure_bind`), request ids, body limit, tracing, request counts and
//! graceful shutdown.

mod admission;
mod handlers;
mod redact;
mod run_body;
mod server;
mod stream;
mod trace;

use std::sync::Arc;

use axum::routing::{get, post};
use scillm_core::Config;
use scillm_serve::{BearerAuth, ServerLayers};
use secrecy::{ExposeSecret, SecretString};

pub use admission::{Admission, AdmissionStats, RETRY_AFTER_S};
pub use handlers::{inner_model, SHIM_MODEL_ID};
pub use redact::{redact, redact_text, REDACTED};
pub use run_body::AgentRunBody;
pub use scillm_serve::{completion_id, ApiError, ApiJson};
pub use server::{
    bind_addr, bind_policy, router_model, serve, serve_with, spawn, spawn_with, RunningShim,
    ShimError,
};
pub use trace::{TraceWriter, DEFAULT_TRACE_FILE};

use crate::agent::Agent;
use crate::model::SharedModel;
use crate::sandbox::Sandbox;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Paths reachable without `MINI_AGENT_API_KEY`: the probes and the metrics scrape.
pub const OPEN_PATHS: &[&str] = &["/ready", "/healthz", "/metrics"];

/// Everything the handlers share.
#[derive(Debug)]
pub struct ShimState {
    config: Arc<Config>,
    agent: Option<Agent>,
    sandbox: Arc<Sandbox>,
    echo: bool,
    traces: Option<TraceWriter>,
    api_key: Option<SecretString>,
    admission: Admission,
}

/// What echo mode answers when `MINI_AGENT_OPENAI_SHIM_REPLY` is unset (SPEC §15).
pub const DEFAULT_ECHO_REPLY: &str = "shim ok";

impl ShimState {
    /// The state for `config`; `model` drives the agent (echo mode needs none).
    pub async fn new(config: Arc<Config>, model: Option<SharedModel>) -> Arc<Self> {
        let sandbox = Arc::new(crate::setup::sandbox_for(&config).await);
        let agent = model.map(|m| crate::setup::agent_with(&config, m, sandbox.clone()));
        let ma = &config.mini_agent;
        Arc::new(Self {
            echo: ma.shim_mode.trim().eq_ignore_ascii_case("echo"),
            traces: TraceWriter::from_config(&config),
            api_key: ma.api_key.clone().filter(|k| !k.expose_secret().is_empty()),
            admission: Admission::new(ma.max_concurrency, ma.max_queue),
            agent,
            sandbox,
            config,
        })
    }
}

impl ShimState {
    /// Echo mode's answer: `MINI_AGENT_OPENAI_SHIM_REPLY`, else `shim ok`.
    pub fn echo_reply(&self) -> String {
        self.config
            .mini_agent
            .shim_reply
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_ECHO_REPLY.to_string())
    }

    /// The agent, or a 503 when the shim was started without a model client.
    pub fn agent(&self) -> Result<&Agent, ApiError> {
        self.agent.as_ref().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "no_model",
                "the mini-agent has no model client",
            )
        })
    }
}

/// The axum app over `state`: the routes, the key check and the foundation's layers.
pub fn app(state: Arc<ShimState>) -> axum::Router {
    let auth = BearerAuth::new(state.api_key.as_ref(), "MINI_AGENT_API_KEY", OPEN_PATHS);
    let routes = axum::Router::new()
        .route("/ready", get(handlers::ready))
        .route("/healthz", get(handlers::healthz))
        .route(
            "/metrics",
            scillm_serve::metrics_route(scillm_serve::recorder()),
        )
        .route("/v1/models", get(handlers::models))
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/chat/completions", post(handlers::chat_completions))
        .route("/agent/run", post(handlers::agent_run))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed);
    let layers = ServerLayers {
        component: "mini_agent",
        max_body_bytes: MAX_BODY_BYTES,
        // Runs are bounded by their own budget (`budget_s`, `max_total_seconds`).
        request_timeout: None,
    };
    layers.apply(auth.layer(routes).with_state(state))
}
