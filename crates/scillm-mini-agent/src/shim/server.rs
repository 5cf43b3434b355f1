//! Binding and running the shim on the server foundation: the bind policy, the serving
//! loop with graceful shutdown, and a background server for the CLI and tests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use scillm_core::config::MiniAgentConfig;
use scillm_core::Config;
use scillm_serve::{Background, BindError, BindPolicy};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use super::{app, ShimState};
use crate::model::SharedModel;

/// Why the shim could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The bind policy refused the address (a non-loopback host without
    /// `MINI_AGENT_API_KEY`, a host that is not an IP address), or it could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The router (the agent's model client) could not be built from the config.
    #[error("cannot build the router for the mini-agent: {0}")]
    Router(String),
    /// The server failed while running.
    #[error("the mini-agent server failed: {0}")]
    Serve(std::io::Error),
}

/// The bind policy of `cfg` (SPEC §7): loopback, unless `MINI_AGENT_API_KEY` is set or
/// `allow_insecure_bind`.
pub fn bind_policy(cfg: &MiniAgentConfig) -> BindPolicy {
    BindPolicy {
        host: cfg.host.clone(),
        port: cfg.port,
        has_auth: cfg
            .api_key
            .as_ref()
            .is_some_and(|k| !k.expose_secret().is_empty()),
        allow_insecure: cfg.allow_insecure_bind,
        fix: "set MINI_AGENT_API_KEY, bind 127.0.0.1 (MINI_AGENT_API_HOST), or set mini_agent.allow_insecure_bind = true if the network is trusted".into(),
        host_setting: "MINI_AGENT_API_HOST".into(),
    }
}

/// The address `cfg` asks for, refusing a non-loopback one without an API key.
pub fn bind_addr(cfg: &MiniAgentConfig) -> Result<SocketAddr, ShimError> {
    Ok(bind_policy(cfg).check()?)
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
    let listener = bind_policy(&config.mini_agent).bind().await?;
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

/// A shim running in the background (for the CLI and tests). Dropping it asks the server
/// to stop.
#[derive(Debug)]
pub struct RunningShim {
    server: Background<ShimError>,
}

impl RunningShim {
    /// The bound address (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://addr`, without `/v1`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Stop serving and wait for the server to finish.
    pub async fn shutdown(self) -> Result<(), ShimError> {
        self.server.shutdown(ShimError::Serve).await
    }
}

/// Bind and serve in the background; returns once the socket is bound.
pub async fn spawn_with(
    config: Arc<Config>,
    model: Option<SharedModel>,
) -> Result<RunningShim, ShimError> {
    let listener = bind_policy(&config.mini_agent).bind().await?;
    let addr = listener.local_addr().map_err(ShimError::Serve)?;
    let state = ShimState::new(config, model).await;
    let server = Background::spawn(addr, move |stop| serve_on(listener, state, stop));
    Ok(RunningShim { server })
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
