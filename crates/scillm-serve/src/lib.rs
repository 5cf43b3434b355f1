//! The server foundation every scillm server (the codex sidecar, the mini-agent shim and
//! the gateway) shares (SPEC §17):
//!
//! - [`serve`]: the serving loop — HTTP/1.1 and HTTP/2 with hyper's header-read timeout
//!   armed, graceful shutdown;
//! - [`ApiError`]: OpenAI error bodies with the right status, and the §11 mapping of
//!   upstream failures ([`ApiError::from_upstream`]);
//! - [`ApiJson`]: a JSON extractor whose rejections are OpenAI errors, within a
//!   [`BodyLimit`];
//! - [`KeySet`] / [`BearerAuth`]: bearer keys compared in constant time;
//! - [`BindPolicy`]: loopback unless auth is configured or explicitly overridden;
//! - [`ServerLayers`]: `x-request-id` on every response, a trace span per request (child
//!   of the inbound W3C `traceparent`) with one log line per answer, request counts and
//!   requests in flight for `/metrics` (`scillm_http_requests_total`, `scillm_in_flight`),
//!   body limit, request timeout;
//! - [`Background`]: a server in a background task, stopped on request or drop;
//! - [`shutdown_signal`] (SIGINT/SIGTERM), [`metrics_route`] (`GET /metrics`) and
//!   [`completion_id`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use scillm_serve::{serve, BindPolicy, ServeOptions, ServerLayers};
//! let policy = BindPolicy {
//!     host: "127.0.0.1".into(),
//!     port: 0,
//!     has_auth: false,
//!     allow_insecure: false,
//!     fix: "set an API key".into(),
//!     host_setting: "HOST".into(),
//! };
//! let listener = policy.bind().await?;
//! let app = axum::Router::new()
//!     .route("/healthz", axum::routing::get(|| async { "ok" }))
//!     .route("/metrics", scillm_serve::metrics_route(scillm_serve::recorder()));
//! let app = ServerLayers::new("example").apply(app);
//! serve(listener, app, ServeOptions::default(), scillm_serve::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod background;
mod bind;
mod error;
mod ids;
mod json;
mod layers;
mod metrics;
mod serve;
mod shutdown;

pub use auth::{bearer_token, digest, parse_digest, require_bearer, BearerAuth, KeyDigest, KeySet};
pub use background::Background;
pub use bind::{BindError, BindPolicy};
pub use error::{ceil_secs, ApiError};
pub use ids::completion_id;
pub use json::{check_content_type, read_body, ApiJson, BodyLimit, DEFAULT_MAX_BODY_BYTES};
pub use layers::{request_id, RequestStart, ServerLayers, REQUEST_ID};
pub use metrics::{metrics_route, recorder, PROMETHEUS_CONTENT_TYPE};
pub use metrics_exporter_prometheus::PrometheusHandle;
pub use serve::{serve, ServeOptions};
pub use shutdown::shutdown_signal;
