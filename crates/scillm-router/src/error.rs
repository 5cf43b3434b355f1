//! Errors building a [`crate::Router`]. Errors of single calls are
//! [`scillm_core::ProviderError`]s, reported in each result's `scillm_router`.

/// A router could not be built from the config.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RouterError {
    /// A `model_list` entry names a provider that is not available or cannot be built.
    #[error("deployment `{deployment}` of model_list: {message}")]
    Deployment {
        /// `{model_name}#{n}`.
        deployment: String,
        /// Why, and what to do about it.
        message: String,
    },
    /// The `[cache]` section cannot be used (the message says what to set).
    #[error("{0}")]
    Cache(String),
    /// The `[state]` section cannot be used (e.g. `redis_url` is not a Redis URL; the URL
    /// itself is never repeated).
    #[error("{0}")]
    State(String),
}
