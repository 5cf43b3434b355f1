//! Shared fixtures of the batch runner's tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use scillm_core::config::ConfigLoader;
use scillm_router::Router;

// Link the openai provider into the test binary (it registers itself).
use scillm_provider_codex as _;

/// A router over the default config, without files or environment.
pub fn router() -> Router {
    let config = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .load()
        .unwrap();
    Router::new(Arc::new(config)).unwrap()
}
