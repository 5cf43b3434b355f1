//! The scillm router: resolves chat requests to providers (per-request provider,
//! `codex-agent/` fast path, `model_list` deployments and fallbacks), retries and fails
//! over across them (SPEC §13: cooldowns, `num_retries`, `rpm`/`tpm` admission, routing
//! strategies), runs them with bounded parallelism, checks JSON / JSON-Schema answers,
//! and attaches `scillm_router` metadata to every result.
//!
//! Providers are known only through [`scillm_core::registry`]: link a provider crate (or
//! register your own with `scillm_core::inventory::submit!`) and name it in the config or
//! the request.
//!
//! ```
//! use std::sync::Arc;
//! use scillm_core::config::ConfigLoader;
//! use scillm_router::{ErrorType, ParallelOptions, Router};
//! use serde_json::json;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let config = ConfigLoader::new().no_file().env_from(Vec::<(String, String)>::new()).load().unwrap();
//! let router = Router::new(Arc::new(config)).unwrap();
//! let items = vec![
//!     json!({"model": "not-configured", "messages": [{"role": "user", "content": "hi"}]}),
//!     json!("not an object"),
//! ];
//! let results = router.parallel(items, ParallelOptions::new()).await;
//! assert_eq!(results.len(), 2);
//! assert_eq!(results[0].meta.error_type, ErrorType::ProviderError);
//! assert_eq!(results[1].to_value()["scillm_router"]["error_kind"], "invalid_request");
//! # });
//! ```

mod admission_batch;
mod aggregate;
mod cache;
mod cache_stream;
mod deployments;
mod error;
mod execute;
mod failover;
mod json_check;
mod limiter;
mod options;
mod parallel;
mod request;
mod request_fields;
mod resolve;
mod result;
mod router;
mod run;
mod settle;
pub mod shared_state;
pub mod state;
mod strategy;
mod stream;

pub use error::RouterError;
pub use json_check::schema_compilations;
pub use json_check::{JsonExpectation, JsonOutcome};
pub use options::{make_deterministic, ParallelOptions, DEFAULT_CONCURRENCY};
pub use request::{CallerHeaders, RequestItem, ResponseMode, RouterRequest, ROUTER_KEYS};
pub use resolve::{CODEX_AGENT, CODEX_AGENT_PREFIX};
pub use result::{ErrorType, RetriesMeta, RouterMeta, RouterResult, EXCEPTION_MAX_CHARS};
pub use router::Router;
pub use run::RunSettings;
pub use scillm_core::config::RoutingStrategy;
pub use scillm_core::wire::Aggregator;
pub use shared_state::SharedRouterState;
pub use state::{LocalState, RouterState};
pub use stream::RoutedStream;
