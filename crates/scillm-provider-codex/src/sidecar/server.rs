//! Binding and running: [`serve`] on the configured host and port (refusing an
//! unauthenticated non-loopback bind, stopping on SIGINT/SIGTERM), and [`spawn`] on an
//! ephemeral loopback port for tests and the embedded default.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use scillm_core::config::secs;
use scillm_core::{ApiBase, Config};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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

/// A future that resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called (inside a Tokio runtime), not when the future is first polled, so no
/// signal slips through.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, Signal, SignalKind};
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async fn wait(s: Option<Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    async move {
        tokio::select! {
            _ = wait(term) => {},
            _ = wait(int) => {},
        }
    }
}

/// Refuse a non-loopback host unless an API key is set or the insecure bind is allowed.
pub fn check_bind(config: &Config) -> Result<(), SidecarError> {
    let sc = &config.sidecar;
    let host = sc.host.trim().trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback || sc.api_key.is_some() || sc.allow_insecure_bind {
        Ok(())
    } else {
        Err(SidecarError::InsecureBind {
            host: sc.host.clone(),
            port: sc.port,
        })
    }
}

impl Sidecar {
    /// Bind `sidecar.host:sidecar.port` and serve until `shutdown` resolves or the process
    /// gets SIGINT/SIGTERM. In-flight requests are let finish (up to `ABS_TIMEOUT_S`);
    /// Codex CLI process groups still running after that are killed.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SidecarError> {
        check_bind(self.config())?;
        let signals = shutdown_signal();
        let sc = &self.config().sidecar;
        let host = sc.host.trim().trim_start_matches('[').trim_end_matches(']');
        let addr = format!("{host}:{}", sc.port);
        let listener = TcpListener::bind((host, sc.port))
            .await
            .map_err(|source| SidecarError::Bind { addr, source })?;
        let local = listener.local_addr().map_err(SidecarError::Serve)?;
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
            .map_err(|source| SidecarError::Bind {
                addr: "127.0.0.1:0".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(SidecarError::Serve)?;
        let base =
            ApiBase::parse(&format!("http://{addr}")).map_err(|e| SidecarError::BadHost {
                host: addr.to_string(),
                reason: e.to_string(),
            })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.clone().serve_on(listener, async move {
            let _ = stopped.await;
        }));
        Ok(RunningSidecar {
            addr,
            base,
            sidecar: self,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A sidecar serving in a background task. Dropping it asks the server to stop.
#[derive(Debug)]
pub struct RunningSidecar {
    addr: SocketAddr,
    base: ApiBase,
    sidecar: Sidecar,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), SidecarError>>>,
}

impl RunningSidecar {
    /// `http://127.0.0.1:<port>` (no `/v1`).
    pub fn base(&self) -> ApiBase {
        self.base.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The served state.
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    /// Stop accepting, let in-flight requests finish, and wait for the server to end.
    pub async fn shutdown(mut self) -> Result<(), SidecarError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| SidecarError::Serve(std::io::Error::other(e.to_string())))?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningSidecar {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
