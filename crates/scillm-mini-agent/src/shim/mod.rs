//! The OpenAI-compatible shim (default `127.0.0.1:8788`): `GET /ready`, `GET /healthz`,
//! `GET /v1/models`, `POST /v1/chat/completions`, `POST /agent/run`.
//!
//! It binds loopback by default and refuses a non-loopback address unless an API key is
//! set (or `allow_insecure_bind`). With a key, every route but `/ready` and `/healthz`
//! needs `Authorization: Bearer <key>`.

mod admission;
mod error;
mod handlers;
mod redact;
mod run_body;
mod stream;
mod trace;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use scillm_core::config::MiniAgentConfig;
use scillm_core::Config;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::limit::RequestBodyLimitLayer;

pub use admission::{Admission, AdmissionStats, RETRY_AFTER_S};
pub use error::{ApiError, ApiJson};
pub use handlers::{completion_id, inner_model, SHIM_MODEL_ID};
pub use redact::{redact, redact_text, REDACTED};
pub use run_body::AgentRunBody;
pub use trace::{TraceWriter, DEFAULT_TRACE_FILE};

use crate::agent::Agent;
use crate::model::SharedModel;
use crate::sandbox::Sandbox;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Why the shim could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// A non-loopback bind without an API key.
    #[error("refusing to bind the mini-agent to {host} without an API key: set MINI_AGENT_API_KEY, bind 127.0.0.1 (MINI_AGENT_API_HOST), or set mini_agent.allow_insecure_bind = true if the network is trusted")]
    InsecureBind {
        /// The host asked for.
        host: String,
    },
    /// The host is not an IP address or `localhost`.
    #[error("mini-agent host `{0}` is not an IP address or `localhost` (MINI_AGENT_API_HOST)")]
    BadHost(String),
    /// The address could not be bound.
    #[error("cannot bind the mini-agent to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The router (the agent's model client) could not be built from the config.
    #[error("cannot build the router for the mini-agent: {0}")]
    Router(String),
    /// The server failed while running.
    #[error("the mini-agent server failed: {0}")]
    Serve(std::io::Error),
}

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

/// The axum app over `state`.
pub fn app(state: Arc<ShimState>) -> axum::Router {
    let protected = axum::Router::new()
        .route("/v1/models", get(handlers::models))
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/chat/completions", post(handlers::chat_completions))
        .route("/agent/run", post(handlers::agent_run))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    axum::Router::new()
        .route("/ready", get(handlers::ready))
        .route("/healthz", get(handlers::healthz))
        .merge(protected)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        // Refuses a Content-Length over the limit before reading, and cuts off a chunked
        // body at the limit (the extractor then answers 413).
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::map_response(error::openai_too_large))
        .with_state(state)
}

async fn require_key(State(state): State<Arc<ShimState>>, req: Request, next: Next) -> Response {
    if let Some(key) = &state.api_key {
        let given = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let ok: bool = given
            .as_bytes()
            .ct_eq(key.expose_secret().as_bytes())
            .into();
        if !ok {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(req).await
}

/// The address `cfg` asks for, refusing a non-loopback one without an API key.
pub fn bind_addr(cfg: &MiniAgentConfig) -> Result<SocketAddr, ShimError> {
    let host = cfg.host.trim();
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| ShimError::BadHost(host.to_string()))?
    };
    let has_key = cfg
        .api_key
        .as_ref()
        .is_some_and(|k| !k.expose_secret().is_empty());
    if !ip.is_loopback() && !has_key && !cfg.allow_insecure_bind {
        return Err(ShimError::InsecureBind {
            host: host.to_string(),
        });
    }
    Ok(SocketAddr::new(ip, cfg.port))
}

/// Serve the shim for `config` with `model` until `shutdown` resolves.
pub async fn serve_with<F>(
    config: Arc<Config>,
    model: Option<SharedModel>,
    shutdown: F,
) -> Result<(), ShimError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let addr = bind_addr(&config.mini_agent)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ShimError::Bind { addr, source })?;
    let state = ShimState::new(config, model).await;
    serve_on(listener, state, shutdown).await
}

async fn serve_on<F>(
    listener: TcpListener,
    state: Arc<ShimState>,
    shutdown: F,
) -> Result<(), ShimError>
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, echo = state.echo, sandbox = state.sandbox.isolation().name(), protections = ?state.sandbox.protections(), "mini-agent listening");
    }
    scillm_serve::serve(
        listener,
        app(state),
        scillm_serve::ServeOptions::default(),
        shutdown,
    )
    .await
    .map_err(ShimError::Serve)
}

/// A shim running in the background (for the CLI and tests).
#[derive(Debug)]
pub struct RunningShim {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ShimError>>>,
}

impl RunningShim {
    /// The bound address (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`, without `/v1`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop serving and wait for the server to finish.
    pub async fn shutdown(mut self) -> Result<(), ShimError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| ShimError::Serve(std::io::Error::other(e)))?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningShim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Bind and serve in the background; returns once the socket is bound.
pub async fn spawn_with(
    config: Arc<Config>,
    model: Option<SharedModel>,
) -> Result<RunningShim, ShimError> {
    let addr = bind_addr(&config.mini_agent)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ShimError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ShimError::Bind { addr, source })?;
    let state = ShimState::new(config, model).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_on(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(RunningShim {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// The router `config` describes, as the agent's model client.
pub fn router_model(config: &Arc<Config>) -> Result<SharedModel, ShimError> {
    let router = scillm_router::Router::new(Arc::clone(config))
        .map_err(|e| ShimError::Router(e.to_string()))?;
    Ok(Arc::new(router))
}

/// Serve the shim for `config` (the agent calls models through a router built from it)
/// until `shutdown` resolves. This is what `scillm mini-agent` runs.
pub async fn serve<F>(config: Arc<Config>, shutdown: F) -> Result<(), ShimError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let model = router_model(&config)?;
    serve_with(config, Some(model), shutdown).await
}

/// Bind and serve the shim for `config` in the background (models through a router).
pub async fn spawn(config: Arc<Config>) -> Result<RunningShim, ShimError> {
    let model = router_model(&config)?;
    spawn_with(config, Some(model)).await
}
