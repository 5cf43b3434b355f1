//! Telemetry for scillm: Prometheus metrics named after the OpenTelemetry GenAI semantic
//! conventions (SPEC §16), tracing set-up (text or JSON log lines, OTLP trace export behind
//! the `otel` feature) and W3C trace-context propagation.
//!
//! Library code records through the [`metrics`] facade with the helpers in [`record`]; the
//! calls cost next to nothing until a program installs a recorder with
//! [`prometheus::handle`] (every scillm server does, for its `GET /metrics`). Hot paths
//! (the router) record through [`handles`] instead: handles registered once per target
//! and handed out only once the recorder is installed.
//!
//! ```
//! use std::time::Duration;
//! use scillm_telemetry::{prometheus, record};
//!
//! let handle = prometheus::handle().expect("no other recorder installed");
//! record::request(
//!     &record::Target { provider: "openai", model: "gpt-4o-mini", deployment: "gpt#0" },
//!     "ok",
//!     Duration::from_millis(120),
//! );
//! let text = handle.render();
//! assert!(text.contains("scillm_requests_total{"));
//! ```

pub mod handles;
pub mod logging;
pub mod names;
pub mod prometheus;
pub mod propagation;
pub mod record;

#[cfg(feature = "otel")]
mod otel;
