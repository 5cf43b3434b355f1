//! The router's response cache (SPEC §18): built on first use (a Redis connection needs a
//! runtime, which `Router::new` may not have), checked when the router is built.

use scillm_cache::ResponseCache;
use scillm_core::Config;
use tokio::sync::OnceCell;

use crate::error::RouterError;

/// The cache `[cache]` asks for, if any.
#[derive(Debug)]
pub(crate) struct CacheSlot {
    config: Option<(
        scillm_core::config::CacheConfig,
        scillm_core::config::StateConfig,
    )>,
    built: OnceCell<Option<ResponseCache>>,
}

impl CacheSlot {
    /// Check `[cache]` (e.g. `mode = "redis"` without a Redis URL is an error now, not at
    /// the first request).
    pub(crate) fn new(config: &Config) -> Result<Self, RouterError> {
        ResponseCache::check_config(&config.cache, &config.state)
            .map_err(|e| RouterError::Cache(e.to_string()))?;
        let wanted = config.cache.mode != scillm_core::config::CacheMode::Off;
        Ok(Self {
            config: wanted.then(|| (config.cache.clone(), config.state.clone())),
            built: OnceCell::new(),
        })
    }

    /// The cache, or `None` with `mode = "off"`.
    pub(crate) async fn get(&self) -> Option<&ResponseCache> {
        let (cache, state) = self.config.as_ref()?;
        self.built
            .get_or_init(|| async {
                match ResponseCache::from_config(cache, state) {
                    Ok(built) => built,
                    Err(e) => {
                        // Unreachable after `new`'s check; without a cache requests still run.
                        tracing::warn!(error = %e, "response cache disabled");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }
}
