//! `GET /metrics` in the Prometheus text format (SPEC §16), from the
//! `metrics-exporter-prometheus` recorder.
//!
//! [`recorder`] returns the process-wide recorder of `scillm_telemetry::prometheus`
//! (installed on first use, with the GenAI bucket bounds; every server in the process and
//! every `metrics::counter!`-style call share it); [`metrics_route`] renders that handle.
//! The metric names are in `scillm_telemetry::names`.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, MethodRouter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The Prometheus text exposition format's content type.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder's handle, installing the recorder on first use.
///
/// When metrics are off (`SCILLM_METRICS=off`) or another global `metrics` recorder was
/// installed before (by an embedding program), a private recorder is built instead and
/// the reason logged: `/metrics` then answers with no series.
pub fn recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| match scillm_telemetry::prometheus::handle() {
            Ok(handle) => handle.clone(),
            Err(e) => {
                if scillm_telemetry::prometheus::enabled() {
                    tracing::warn!(error = %e, "/metrics shows a private recorder");
                } else {
                    tracing::info!("{e}; /metrics shows no series");
                }
                PrometheusBuilder::new().build_recorder().handle()
            }
        })
        .clone()
}

/// The `GET /metrics` handler for `handle`: runs the recorder's upkeep (draining
/// histogram buffers) and answers the text format.
pub fn metrics_route<S: Clone + Send + Sync + 'static>(
    handle: PrometheusHandle,
) -> MethodRouter<S> {
    get(move || {
        let handle = handle.clone();
        async move {
            handle.run_upkeep();
            (
                [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
                handle.render(),
            )
                .into_response()
        }
    })
}
