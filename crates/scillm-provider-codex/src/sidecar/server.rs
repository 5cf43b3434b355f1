//! Binding and running on the server foundation: [`serve`] on the configured host and
//! port under the foundation's bind policy ([`bind_policy`]), stopping on SIGINT/SIGTERM
//! ([`scillm_serve::shutdown_signal`]), and [`spawn`] on an ephemeral loopback port for
//! tests and the embedded default.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use scillm_core::config::secs;
use scillm_core::{ApiBase, Config};
use scillm_serve::{Background, BindPolicy};
use tokio::net::TcpListener;

use super::error::SidecarError;
use super::routes::router;
use super::state::Sidecar;

/// Build a sidecar from `config` and [`Sidecar::serve`] it.
pub async fn serve(
    config: Arc<Config>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SidecarError> {
    Sidecar::new(config)?.serve(shutdown).await
}

/// Build a sidecar from `config` and [`Sidecar::spawn`] it on `127.0.0.1:0`.
pub async fn spawn(config: Arc<Config>) -> Result<RunningSidecar, SidecarError> {
    Sidecar::new(config)?.spawn().await
}

/// The bind policy of `config`'s `sidecar` section (SPEC §5): loopback, unless
/// `CODEX_SIDECAR_API_KEY` is set or `CODEX_SIDECAR_ALLOW_INSECURE_BIND=1`.
pub fn bind_policy(config: &Config) -> BindPolicy {
    let sc = &config.sidecar;
    BindPolicy {
        host: sc.host.clone(),
        port: sc.port,
        has_auth: sc.api_key.is_some(),
        allow_insecure: sc.allow_insecure_bind,
        fix: "set CODEX_SIDECAR_API_KEY, bind 127.0.0.1, or set CODEX_SIDECAR_ALLOW_INSECURE_BIND=1 to override".into(),
        host_setting: "CODEX_SIDECAR_HOST".into(),
    }
}

/// Check `config` against [`bind_policy`] without binding.
pub fn check_bind(config: &Config) -> Result<(), SidecarError> {
    bind_policy(config).check()?;
    Ok(())
}

impl Sidecar {
    /// Bind `sidecar.host:sidecar.port` and serve until `shutdown` resolves or the process
    /// gets SIGINT/SIGTERM. In-flight requests are let finish (up to `ABS_TIMEOUT_S`);
    /// Codex CLI process groups still running after that are killed.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SidecarError> {
        let policy = bind_policy(self.config());
        policy.check()?;
        let signals = scillm_serve::shutdown_signal();
        let listener = policy.bind().await?;
        let local = listener.local_addr().map_err(SidecarError::Serve)?;
        let sc = &self.config().sidecar;
        tracing::info!(addr = %local, echo = sc.echo, "codex sidecar listening");
        self.serve_on(listener, async move {
            tokio::select! {
                _ = shutdown => {},
                _ = signals => {},
            }
        })
        .await
    }

    /// Serve on an already bound listener until `shutdown` resolves (no signal handling).
    pub async fn serve_on(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SidecarError> {
        let token = self.inner.shutdown.clone();
        let grace = secs(self.config().sidecar.abs_timeout_s) + Duration::from_secs(5);
        let stop = async move {
            shutdown.await;
            tracing::info!("codex sidecar shutting down");
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                token.cancel();
            });
        };
        let result = scillm_serve::serve(
            listener,
            router(self.clone()),
            scillm_serve::ServeOptions::default(),
            stop,
        )
        .await
        .map_err(SidecarError::Serve);
        self.kill_children();
        result
    }

    /// Serve on `127.0.0.1:0` in a background task (tests, the embedded default).
    pub async fn spawn(self) -> Result<RunningSidecar, SidecarError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(SidecarError::Serve)?;
        let addr = listener.local_addr().map_err(SidecarError::Serve)?;
        let base = ApiBase::parse(&format!("http://{addr}"))
            .map_err(|e| SidecarError::Serve(std::io::Error::other(e.to_string())))?;
        let sidecar = self.clone();
        let server = Background::spawn(addr, move |stop| sidecar.serve_on(listener, stop));
        Ok(RunningSidecar {
            base,
            sidecar: self,
            server,
        })
    }
}

/// A sidecar serving in a background task. Dropping it asks the server to stop.
#[derive(Debug)]
pub struct RunningSidecar {
    base: ApiBase,
    sidecar: Sidecar,
    server: Background<SidecarError>,
}

impl RunningSidecar {
    /// `http://127.0.0.1:<port>` (no `/v1`).
    pub fn base(&self) -> ApiBase {
        self.base.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The served state.
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    /// Stop accepting, let in-flight requests finish, and wait for the server to end.
    pub async fn shutdown(self) -> Result<(), SidecarError> {
        self.server.shutdown(SidecarError::Serve).await
    }
}
