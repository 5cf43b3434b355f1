//! The codex sidecar: an OpenAI-compatible server in front of the Codex CLI
//! (default `127.0.0.1:8077`).
//!
//! Routes: `GET /healthz`, `GET /v1/models`, `GET /metrics`, `POST /v1/chat/completions`
//! (alias `POST /chat/completions`). A chat is answered by the first of: echo mode
//! (`CODEX_SIDECAR_ECHO=1`), forward mode (`CODEX_FORWARD_BASE`, unless forced local),
//! the credentials preflight (401 when the Codex `auth.json` is missing), then Codex
//! through the backend of `CODEX_BACKEND` (SPEC §12): one long-lived `codex app-server`
//! ([`app_server`], the default) or one `codex exec` per request, under `MAX_CONCURRENCY`,
//! `ABS_TIMEOUT_S` and `IDLE_TIMEOUT_S`. Both backends report a [`turn`] whose end decides
//! the outcome (counted in `scillm_codex_turns_total{backend,outcome}`). It runs on the
//! server foundation `scillm-serve`: its error type (every error is an OpenAI error body
//! with a fitting status), bearer auth, bind policy, request ids, body limit, tracing,
//! request counts and graceful shutdown.
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
mod meter;
pub mod preflight;
mod prompt;
mod request;
mod routes;
pub mod schema;
mod server;
mod sse;
mod state;
pub mod turn;

pub use error::SidecarError;
pub use forward::FORCE_LOCAL_HEADER;
pub use limits::OVERLOAD_RETRY_AFTER_S;
pub use prompt::{cli_model, flatten as flatten_prompt};
pub use routes::{router, OPEN_PATHS};
pub use schema::SCHEMA_MODE_HEADER;
pub use scillm_serve::ApiError;
pub use server::{bind_policy, check_bind, serve, spawn, RunningSidecar};
pub use state::Sidecar;
