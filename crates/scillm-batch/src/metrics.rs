//! `scillm batch --metrics-addr HOST:PORT` (SPEC §16): `GET /metrics` in the Prometheus
//! text format for as long as the batch runs, from the process-wide recorder of
//! `scillm_telemetry::prometheus` that the router records into.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A running `/metrics` endpoint; [`MetricsServer::stop`] (or dropping it) ends it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Install the process's Prometheus recorder (so that everything recorded from now
    /// on shows) and serve `GET /metrics` on `addr` (`HOST:PORT`; port 0 picks a free
    /// one, see [`MetricsServer::local_addr`]). Start it before the batch runs.
    ///
    /// Errors: `addr` is not `HOST:PORT` or cannot be bound ([`crate::BatchError::Metrics`],
    /// a usage error), or another `metrics` recorder owns this process.
    pub async fn start(addr: &str) -> Result<Self, crate::BatchError> {
        let err = |message: String| crate::BatchError::Metrics {
            addr: addr.to_string(),
            message,
        };
        let handle = scillm_telemetry::prometheus::handle().map_err(err)?;
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            err(format!(
                "cannot listen there ({e}); give a free HOST:PORT such as 127.0.0.1:9464"
            ))
        })?;
        let local = listener.local_addr().map_err(|e| err(e.to_string()))?;
        let app =
            axum::Router::new().route("/metrics", scillm_serve::metrics_route(handle.clone()));
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let served = scillm_serve::serve(
                listener,
                app,
                scillm_serve::ServeOptions::default(),
                stopped.cancelled_owned(),
            )
            .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the /metrics endpoint stopped");
            }
        });
        Ok(Self {
            addr: local,
            stop,
            task,
        })
    }

    /// The address it listens on (the port chosen when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving and wait for the requests in flight to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        let mut this = self;
        let _ = (&mut this.task).await;
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
