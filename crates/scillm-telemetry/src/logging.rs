//! Process-wide tracing set-up for scillm programs: log lines on stderr as text or JSON
//! (`SCILLM_LOG_FORMAT`), filtered by `SCILLM_LOG` (an `EnvFilter` directive), and — with
//! the `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set — every `scillm*` span exported
//! over OTLP/HTTP (protobuf) with W3C trace-context propagation.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// The filter used when `SCILLM_LOG` is unset: warnings from everything, info from scillm.
pub const DEFAULT_FILTER: &str = "warn,scillm=info";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (colour only on a terminal).
    Text,
    /// One JSON object per line, with the current span's fields under `span` and every
    /// enclosing span's (root first) under `spans`, so a line logged deep inside a request
    /// (a router item, an upstream call) still carries the request's `request_id`.
    Json,
}

impl LogFormat {
    /// Read `SCILLM_LOG_FORMAT` (`text`, the default, or `json`, case-insensitive).
    ///
    /// Errors: any other value, with a message naming the accepted ones.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("SCILLM_LOG_FORMAT") {
            Err(_) => Ok(LogFormat::Text),
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                other => Err(format!(
                    "SCILLM_LOG_FORMAT={other:?} is not a log format: use `text` or `json`"
                )),
            },
        }
    }
}

/// Keeps the trace exporter alive; dropping it flushes the spans not yet sent.
#[derive(Default)]
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").finish_non_exhaustive()
    }
}

impl TelemetryGuard {
    /// Whether spans are being exported over OTLP.
    pub fn exporting(&self) -> bool {
        #[cfg(feature = "otel")]
        {
            self.provider.is_some()
        }
        #[cfg(not(feature = "otel"))]
        {
            false
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// The layer writing [`LogFormat::Json`] lines to `writer`: one JSON object per event with
/// `timestamp`, `level`, `target`, `fields` (the message and the event's fields), `span`
/// (the current span's name and fields) and `spans` (every enclosing span, root first, e.g.
/// the server request's span with its `request_id`, SPEC §16). [`init`]
/// installs it with stderr; a test can capture the same lines with its own writer.
pub fn json_layer<S, W>(
    writer: W,
) -> fmt::Layer<S, fmt::format::JsonFields, fmt::format::Format<fmt::format::Json>, W>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + 'static,
{
    fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(writer)
}

/// Install the global subscriber: log lines to stderr in `format`, filtered by `SCILLM_LOG`
/// (else [`DEFAULT_FILTER`]), plus OTLP export when the `otel` feature is on and
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. Call it
/// once, before starting an async runtime (the OTLP exporter's HTTP client is blocking and
/// runs on its own thread).
///
/// Errors: a subscriber is already installed, or the exporter cannot be built.
pub fn init(format: LogFormat) -> Result<TelemetryGuard, String> {
    let filter =
        || EnvFilter::try_from_env("SCILLM_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => json_layer(std::io::stderr).with_filter(filter()).boxed(),
    };
    #[allow(unused_mut)]
    let mut guard = TelemetryGuard::default();
    #[cfg(feature = "otel")]
    let otel = match crate::otel::layer()? {
        Some((layer, provider)) => {
            guard.provider = Some(provider);
            Some(layer)
        }
        None => None,
    };
    #[cfg(not(feature = "otel"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_line_logged_inside_a_request_carries_the_request_id_of_an_outer_span() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("http_request", request_id = "abc");
            let _r = request.enter();
            let item = tracing::info_span!("router_item", index = 3);
            let _i = item.enter();
            let call = tracing::info_span!("chat", model = "gpt-test");
            let _c = call.enter();
            tracing::warn!("retrying");
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["fields"]["message"], "retrying", "{line}");
        assert_eq!(line["span"]["name"], "chat", "{line}");
        let spans = line["spans"].as_array().unwrap();
        let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["http_request", "router_item", "chat"], "{line}");
        assert_eq!(spans[0]["request_id"], "abc", "{line}");
    }
}
