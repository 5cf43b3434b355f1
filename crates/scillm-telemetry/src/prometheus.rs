//! The process-wide Prometheus recorder behind every `GET /metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::names;

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The content type of [`PrometheusHandle::render`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process's Prometheus handle, installing the recorder on first use (with the GenAI
/// bucket bounds of [`names::DURATION_BUCKETS`] and [`names::TOKEN_BUCKETS`], and the help
/// text of [`names::describe_all`]). Every later call returns the same handle.
///
/// Errors: metrics are turned off ([`enabled`] is false: nothing is recorded and every
/// recording call is a no-op), or another `metrics` recorder was installed in this
/// process first (the message says so; metrics then go to that recorder and cannot be
/// rendered here).
pub fn handle() -> Result<&'static PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            if !enabled() {
                return Err("metrics are off (SCILLM_METRICS=off): nothing is recorded".to_string());
            }
            let handle = builder()
                .and_then(|b| b.install_recorder().map_err(|e| e.to_string()))
                .map_err(|e| format!("cannot install the Prometheus recorder: {e}"))?;
            names::describe_all();
            // Histograms keep raw samples until upkeep folds them into buckets; without
            // it a long batch would hold every sample.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("scillm-metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                tracing::warn!("metrics upkeep thread not started: {e}");
            }
            Ok(handle)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Whether this process records metrics: yes unless `SCILLM_METRICS` is `0`, `off`,
/// `false` or `no` (case-insensitive). Read once. With metrics off no recorder is
/// installed, so every recording call is a no-op and `/metrics` shows no series — for
/// operators who do not scrape, and for measuring what metrics cost (`cargo xtask bench
/// load`).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var("SCILLM_METRICS").map_or(true, |v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "0" | "off" | "false" | "no"
            )
        })
    })
}

fn builder() -> Result<PrometheusBuilder, String> {
    let set = |b: PrometheusBuilder, name: &str, buckets: &[f64]| {
        b.set_buckets_for_metric(Matcher::Full(name.to_string()), buckets)
            .map_err(|e: BuildError| e.to_string())
    };
    let b = PrometheusBuilder::new();
    let b = set(b, names::OPERATION_DURATION, names::DURATION_BUCKETS)?;
    let b = set(b, names::QUEUE_SECONDS, names::DURATION_BUCKETS)?;
    let b = set(b, names::RATE_LIMIT_WAIT_SECONDS, names::DURATION_BUCKETS)?;
    set(b, names::TOKEN_USAGE, names::TOKEN_BUCKETS)
}

/// Whether this process's Prometheus recorder is installed (a [`handle`] call succeeded).
/// One atomic load: hot paths check it before recording through cached handles
/// ([`crate::handles`]), so a program without `/metrics` pays next to nothing.
pub fn installed() -> bool {
    matches!(HANDLE.get(), Some(Ok(_)))
}

/// Render the current metrics in Prometheus text format, or a comment line saying why
/// there are none (another recorder owns this process).
pub fn render() -> String {
    match handle() {
        Ok(h) => h.render(),
        Err(e) => format!("# {e}\n"),
    }
}
