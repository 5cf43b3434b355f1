//! `scillm serve`: the Router as an OpenAI-compatible server (SPEC §17), on the shared
//! server foundation of `scillm-serve`.
//!
//! - `POST /v1/chat/completions` (and `/chat/completions`), streamed or not, routed with
//!   failover, cooldowns, rate limits and JSON checks (SPEC §6, §13). Non-stream answers
//!   carry the item's `scillm_router` record; every answer has `x-scillm-deployment`,
//!   `x-scillm-attempts` and `x-scillm-overhead-ms`.
//! - `GET /v1/models`, `GET /healthz`, `GET /metrics`.
//! - Client keys (`[gateway] keys`): each with its models and optional rpm/tpm; 401 for a
//!   wrong key, 403 for a model the key may not use, 404 (listing the names) for a model
//!   not served, 429 with `Retry-After` for a key over its limits or when every target
//!   is rate-limited. Without keys the gateway binds loopback only.
//! - The OpenAI Batch API ([`batch`]), run locally with state under `[gateway] data_dir`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use scillm_core::config::ConfigLoader;
//! let config = Arc::new(ConfigLoader::new().load()?);
//! scillm_gateway::serve(config, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

mod access;
pub mod batch;
mod chat;
mod error;
mod keys;
mod routes;
mod server;
mod state;

pub use access::Catalog;
pub use chat::{ATTEMPTS_HEADER, DEPLOYMENT_HEADER, OVERHEAD_HEADER};
pub use error::GatewayError;
pub use keys::{estimate_tokens, ClientKey};
pub use routes::{app, SharedKey};
pub use server::{bind_policy, serve, serve_on, serve_then, spawn, spawn_gateway, RunningGateway};
pub use state::Gateway;
