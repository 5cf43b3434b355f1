//! The response cache (SPEC §18): `[cache] mode = off | local | redis | disk`.
//!
//! A request is served from the cache on an exact match of its normalized form
//! ([`CacheKey`]: model, messages, sampling fields, response_format, tools). Streams and
//! `temperature > 0` are left alone unless `cache_stream` / `cache_nondeterministic`
//! allow them; LiteLLM's per-request `"cache": {"no-cache": true}` skips the lookup
//! ([`CacheDirectives`]). A backend that fails (Redis down, disk unreadable) makes a miss
//! and `scillm_cache_errors_total`, never a failed request; the log says so once per
//! outage (a warning when the backend starts failing, a line when it answers again).
//!
//! ```no_run
//! use scillm_cache::{CacheDirectives, CachePlan, ResponseCache};
//! use scillm_core::config::{CacheConfig, CacheMode, StateConfig};
//! # async fn demo(mut request: scillm_core::wire::ChatRequest) -> Result<(), scillm_cache::CacheError> {
//! let config = CacheConfig { mode: CacheMode::Local, ..Default::default() };
//! let cache = ResponseCache::from_config(&config, &StateConfig::default())?.expect("mode is not off");
//! let directives = CacheDirectives::take(&mut request);
//! if let CachePlan::Use { key, read: true, .. } = cache.plan(&request, directives) {
//!     if let Some(answer) = cache.get(&key).await {
//!         // answered without an upstream call; scillm_router.cache_hit = true
//!     }
//! }
//! # Ok(()) }
//! ```

mod key;
mod policy;
mod store;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scillm_core::config::{CacheConfig, CacheMode, StateConfig};
use scillm_core::wire::{ChatRequest, ChatResponse};
use scillm_state::{RedisLink, RedisStateOptions, StateError};
use secrecy::ExposeSecret;

pub use key::{normalize, CacheKey, KEY_FIELDS};
pub use policy::{CacheDirectives, CachePlan, CacheRules, SkipReason, DIRECTIVES_FIELD};
/// The cache's metric names, defined with every other in `scillm-telemetry`.
pub use scillm_telemetry::names::{
    CACHE_ERRORS_TOTAL, CACHE_REQUESTS_TOTAL, CACHE_SKIPPED_TOTAL, CACHE_WRITES_TOTAL,
};
use scillm_telemetry::record;

use store::Store;

/// A `[cache]` section that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// `mode = "redis"` without a Redis URL.
    #[error(
        "[cache] mode = \"redis\" needs a Redis: set [state] redis_url or SCILLM_REDIS_URL \
         (or choose mode = \"local\" or \"disk\")"
    )]
    RedisWithoutUrl,
    /// The Redis URL does not parse.
    #[error(transparent)]
    InvalidUrl(#[from] StateError),
}

/// The response cache of one process (cheap to share behind an `Arc`).
pub struct ResponseCache {
    rules: CacheRules,
    store: Store,
    /// The backend's last `get` / `put` failed (an outage of either is logged when it
    /// starts and ends; reads and writes can fail apart, e.g. a full disk).
    failing: [AtomicBool; 2],
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("backend", &self.store.name())
            .field("rules", &self.rules)
            .finish()
    }
}

impl ResponseCache {
    /// The cache `[cache]` describes (`None` for `mode = "off"`); `state` gives the Redis
    /// URL for `mode = "redis"`. Must be called inside a tokio runtime for `redis`.
    pub fn from_config(
        cache: &CacheConfig,
        state: &StateConfig,
    ) -> Result<Option<Self>, CacheError> {
        let rules = CacheRules::from(cache);
        Ok(Some(match cache.mode {
            CacheMode::Off => return Ok(None),
            CacheMode::Local => Self::local(rules, cache.ttl(), cache.max_entries),
            CacheMode::Disk => Self::disk(rules, cache.ttl(), &cache.path),
            CacheMode::Redis => {
                let url = state
                    .redis_url
                    .as_ref()
                    .ok_or(CacheError::RedisWithoutUrl)?;
                Self::redis(rules, cache.ttl(), url.expose_secret())?
            }
        }))
    }

    /// Check `[cache]` against `[state]` without building anything (no runtime needed):
    /// `mode = "redis"` needs a Redis URL that parses.
    pub fn check_config(cache: &CacheConfig, state: &StateConfig) -> Result<(), CacheError> {
        if cache.mode == CacheMode::Redis {
            let url = state
                .redis_url
                .as_ref()
                .ok_or(CacheError::RedisWithoutUrl)?;
            RedisLink::check_url(url.expose_secret())?;
        }
        Ok(())
    }

    /// In this process's memory: at most `max_entries`, each for `ttl`.
    pub fn local(rules: CacheRules, ttl: Duration, max_entries: u64) -> Self {
        Self {
            rules,
            store: Store::local(ttl, max_entries),

            failing: [AtomicBool::new(false), AtomicBool::new(false)],
        }
    }

    /// In the Redis at `url`, each entry for `ttl`. Connects lazily.
    pub fn redis(rules: CacheRules, ttl: Duration, url: &str) -> Result<Self, CacheError> {
        let link = RedisLink::new(url, RedisStateOptions::default(), "the response cache")?;
        Ok(Self::redis_with_link(rules, ttl, link))
    }

    /// In Redis through an existing link (e.g. the shared state's).
    pub fn redis_with_link(rules: CacheRules, ttl: Duration, link: RedisLink) -> Self {
        Self {
            rules,
            store: Store::Redis { link, ttl },

            failing: [AtomicBool::new(false), AtomicBool::new(false)],
        }
    }

    /// In the directory `dir` (created on first write), each entry for `ttl`.
    pub fn disk(rules: CacheRules, ttl: Duration, dir: &Path) -> Self {
        Self {
            rules,
            store: Store::Disk {
                dir: dir.to_path_buf(),
                ttl,
            },

            failing: [AtomicBool::new(false), AtomicBool::new(false)],
        }
    }

    /// The backend: `local`, `redis` or `disk`.
    pub fn backend(&self) -> &'static str {
        self.store.name()
    }

    /// How `request` uses the cache (its directives already taken with
    /// [`CacheDirectives::take`]); a skip is counted in `scillm_cache_skipped_total`.
    pub fn plan(&self, request: &ChatRequest, directives: CacheDirectives) -> CachePlan {
        let plan = self.rules.plan(request, directives);
        if let CachePlan::Skip(reason) = &plan {
            record::cache_skipped(reason.as_str());
        }
        plan
    }

    /// The stored answer for `key`; counts a hit or a miss.
    pub async fn get(&self, key: &CacheKey) -> Option<ChatResponse> {
        let backend = self.store.name();
        let found = match self.store.get(key.as_str()).await {
            Ok(found) => {
                self.answered("get");
                found
            }
            Err(error) => {
                self.backend_failed("get", &error);
                None
            }
        };
        let answer = found.and_then(|bytes| match serde_json::from_slice(&bytes) {
            Ok(answer) => Some(answer),
            Err(e) => {
                record::cache_error(backend, "get");
                tracing::warn!(
                    backend,
                    error = %e,
                    "response cache: a stored entry is not a chat completion; treated as a miss"
                );
                None
            }
        });
        record::cache_lookup(backend, answer.is_some());
        answer
    }

    /// Store `answer` under `key` (callers store successful answers only).
    pub async fn put(&self, key: &CacheKey, answer: &ChatResponse) {
        let bytes = match serde_json::to_vec(answer) {
            Ok(bytes) => bytes,
            Err(e) => {
                record::cache_error(self.store.name(), "put");
                return tracing::warn!(error = %e, "response cache: an answer could not be stored");
            }
        };
        match self.store.put(key.as_str(), bytes).await {
            Ok(()) => {
                self.answered("put");
                record::cache_write(self.store.name());
            }
            Err(error) => self.backend_failed("put", &error),
        }
    }

    /// A backend call failed: counted every time, logged as a warning when an outage
    /// starts (the calls after it, until the backend answers, at debug level only).
    fn backend_failed(&self, operation: &'static str, error: &str) {
        let backend = self.store.name();
        record::cache_error(backend, operation);
        if self.failing[slot(operation)].swap(true, Ordering::Relaxed) {
            tracing::debug!(backend, operation, error, "response cache: still failing");
        } else {
            tracing::warn!(
                backend,
                operation,
                error,
                "response cache: the backend fails; lookups are misses and answers go \
                 unstored until it answers again (each failure counts in \
                 scillm_cache_errors_total)"
            );
        }
    }

    /// A backend `operation` succeeded: the end of its outage is logged once.
    fn answered(&self, operation: &'static str) {
        let failing = &self.failing[slot(operation)];
        if failing.load(Ordering::Relaxed) && failing.swap(false, Ordering::Relaxed) {
            tracing::info!(
                backend = self.store.name(),
                operation,
                "response cache: the backend answers again"
            );
        }
    }
}

/// The outage flag of a backend operation: `get` or `put`.
fn slot(operation: &str) -> usize {
    usize::from(operation == "put")
}
