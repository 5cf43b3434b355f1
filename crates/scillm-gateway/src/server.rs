//! Binding and running: [`serve`] on `[gateway] host:port` under the bind policy, stopping
//! on SIGINT/SIGTERM, and [`spawn`] on an ephemeral loopback port for tests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use scillm_core::Config;
use scillm_serve::{Background, BindPolicy, ServeOptions};
use tokio::net::TcpListener;

use crate::error::GatewayError;
use crate::routes::app;
use crate::state::Gateway;

/// The bind policy of `config`: loopback unless keys are configured or
/// `allow_insecure_bind` is set.
pub fn bind_policy(config: &Config) -> BindPolicy {
    let g = &config.gateway;
    BindPolicy {
        host: g.host.clone(),
        port: g.port,
        has_auth: !g.keys.is_empty(),
        allow_insecure: g.allow_insecure_bind,
        fix: "add [gateway] keys, bind 127.0.0.1, or set [gateway] allow_insecure_bind = true on a trusted network".into(),
        host_setting: "[gateway] host / scillm serve --host".into(),
    }
}

/// Build the gateway and serve it on `[gateway] host:port` until `shutdown` resolves or
/// the process gets SIGINT/SIGTERM; requests in flight finish, running batches stop and
/// resume at the next start.
pub async fn serve(
    config: Arc<Config>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    serve_then(config, shutdown, |_, _| {}).await
}

/// [`serve`], calling `on_listening` with the bound address and the model names once the
/// gateway is built (keys read, router made) and listening — so a start-up message is
/// never printed for a gateway that then fails to start.
pub async fn serve_then(
    config: Arc<Config>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr, &[String]),
) -> Result<(), GatewayError> {
    let policy = bind_policy(&config);
    policy.check()?;
    let signals = scillm_serve::shutdown_signal();
    let gw = Gateway::new(config).await?;
    let listener = policy.bind().await?;
    let local = listener.local_addr().map_err(GatewayError::Serve)?;
    let models = gw.visible_models(None);
    tracing::info!(addr = %local, models = ?models, "scillm gateway listening");
    on_listening(local, &models);
    serve_on(gw, listener, async move {
        tokio::select! {
            () = shutdown => {},
            () = signals => {},
        }
    })
    .await
}

/// Serve `gw` on an already bound listener until `shutdown` resolves.
pub async fn serve_on(
    gw: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let result = scillm_serve::serve(listener, app(gw.clone()), ServeOptions::default(), shutdown)
        .await
        .map_err(GatewayError::Serve);
    gw.batches().stop().await;
    result
}

/// Build the gateway from `config` and serve it on `127.0.0.1:0` in a background task.
pub async fn spawn(config: Arc<Config>) -> Result<RunningGateway, GatewayError> {
    let gw = Gateway::new(config).await?;
    spawn_gateway(gw).await
}

/// Serve an already built gateway on `127.0.0.1:0` in a background task.
pub async fn spawn_gateway(gw: Gateway) -> Result<RunningGateway, GatewayError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(GatewayError::Serve)?;
    let addr = listener.local_addr().map_err(GatewayError::Serve)?;
    let served = gw.clone();
    let server = Background::spawn(addr, move |stop| serve_on(served, listener, stop));
    Ok(RunningGateway {
        gateway: gw,
        server,
    })
}

/// A gateway serving in a background task. Dropping it asks the server to stop.
#[derive(Debug)]
pub struct RunningGateway {
    gateway: Gateway,
    server: Background<GatewayError>,
}

impl RunningGateway {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The served state.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Stop accepting, let requests in flight finish, stop batches, wait for the end.
    pub async fn shutdown(self) -> Result<(), GatewayError> {
        self.server.shutdown(GatewayError::Serve).await
    }
}
