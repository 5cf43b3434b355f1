//! Core of scillm: OpenAI chat wire types, the [`Provider`] trait and its `inventory`
//! registry, errors typed by cause, layered configuration and the retry policy.
//!
//! ```
//! use scillm_core::wire::{ChatRequest, Message};
//! use scillm_core::config::ConfigLoader;
//!
//! let req = ChatRequest::new("gpt-5", vec![Message::user("hi")]);
//! assert_eq!(req.messages.len(), 1);
//! let cfg = ConfigLoader::new().no_file().env_from([("CODEX_SIDECAR_ECHO", "1")]).load().unwrap();
//! assert!(cfg.sidecar.echo);
//! ```

pub mod base;
pub mod config;
pub mod error;
pub mod provider;
pub mod registry;
pub mod retry;
pub mod upstream;
pub mod wire;

pub use base::ApiBase;
pub use config::Config;
pub use error::{ErrorKind, ProviderError};
pub use provider::{CallContext, ChunkStream, Provider, SharedProvider};
pub use registry::{ProviderRegistration, ProviderSettings};
pub use retry::{RetryPolicy, RetryStats, RetryStatsSlot};

/// Re-exported so provider crates register with the same `inventory` version.
pub use inventory;
/// Re-exported so callers name secrets with the same `secrecy` version.
pub use secrecy;
