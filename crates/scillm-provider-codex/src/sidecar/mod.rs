//! The codex sidecar: an OpenAI-compatible server in front of the Codex CLI
//! (default `127.0.0.1:8077`).
//!
//! Routes: `GET /healthz`, `GET /v1/models`, `POST /v1/chat/completions` (alias
//! `POST /chat/completions`). A chat is answered by the first of: echo mode
//! (`CODEX_SIDECAR_ECHO=1`), forward mode (`CODEX_FORWARD_BASE`, unless forced local),
//! the credentials preflight (401 when the Codex `auth.json` is missing), then Codex
//! through the backend of `CODEX_BACKEND` (SPEC §12): one long-lived `codex app-server`
//! ([`app_server`], the default) or one `codex exec` per request, under `MAX_CONCURRENCY`,
//! `ABS_TIMEOUT_S` and `IDLE_TIMEOUT_S`. Both backends report a [`turn`] whose end decides
//! the outcome. Every error is an OpenAI error body with a fitting status.
//!
//! - [`Sidecar::new`] builds the state, [`router`] gives the axum router over it;
//! - [`serve`] binds the configured host and port and stops on SIGINT/SIGTERM;
//! - [`spawn`] serves on an ephemeral loopback port in the background ([`RunningSidecar`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use scillm_core::config::ConfigLoader;
//!
//! let config = Arc::new(ConfigLoader::new().no_file().set("sidecar.echo", true).load()?);
//! let running = scillm_provider_codex::sidecar::spawn(config).await?;
//! let url = running.base().chat_completions_url();
//! # let _ = url;
//! running.shutdown().await?;
//! # Ok(()) }
//! ```

mod answer;
pub mod app_server;
mod auth;
pub mod child;
pub mod cli;
mod echo;
mod error;
mod exec;
mod extract;
mod forward;
mod handlers;
mod images;
mod limits;
pub mod preflight;
mod prompt;
mod request;
mod routes;
pub mod schema;
mod server;
mod sse;
mod state;
pub mod turn;

use std::sync::atomic::{AtomicU64, Ordering};

pub use error::{ApiError, SidecarError};
pub use forward::FORCE_LOCAL_HEADER;
pub use limits::OVERLOAD_RETRY_AFTER_S;
pub use prompt::{cli_model, flatten as flatten_prompt};
pub use routes::router;
pub use schema::SCHEMA_MODE_HEADER;
pub use server::{check_bind, serve, shutdown_signal, spawn, RunningSidecar};
pub use state::Sidecar;

/// A fresh `chatcmpl-…` id.
pub(crate) fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{nanos:x}{n:04x}")
}
