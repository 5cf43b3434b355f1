//! Rate-limit use, cooldowns and rotation, shared between scillm processes (SPEC §13, §18).
//!
//! [`SharedState`] is the one interface the router uses; it never knows which
//! implementation it has:
//! - [`LocalState`]: per process, in memory (rate limits with `governor`).
//! - [`RedisState`]: shared by every process that uses the same Redis. Every key starts
//!   with `scillm:` and carries a TTL. When Redis cannot be reached, each call falls back
//!   to a [`LocalState`], logs one warning per outage and counts
//!   `scillm_state_backend_errors_total`; no request fails because of it, and the next
//!   call after a short back-off tries Redis again (the connection manager reconnects).
//!
//! Rate limits are smoothed (SPEC §13): `rpm` admits one request every `60 / rpm` seconds
//! with a burst of at most one second's allowance (`rpm / 60`, at least 1); `tpm` does the
//! same per token. This is GCRA, the algorithm `governor` implements in process and
//! [`RedisState`] runs as a Lua script inside Redis, so checking and charging both limits
//! is one atomic step whatever the number of processes.
//!
//! ```no_run
//! use std::time::Duration;
//! use scillm_state::{Admission, RateLimit, RedisState, SharedState};
//!
//! # async fn demo() -> Result<(), scillm_state::StateError> {
//! let state = RedisState::new("redis://127.0.0.1:6379")?;
//! let limit = RateLimit { rpm: Some(600), tpm: None };
//! match state.try_acquire("gpt-4o-east", limit, 0).await {
//!     Admission::Granted => { /* send */ }
//!     Admission::Wait(d) => tokio::time::sleep(d).await, // then ask again
//! }
//! state.start_cooldown("gpt-4o-east", Duration::from_secs(30)).await;
//! # Ok(()) }
//! ```

mod admit;
mod link;
mod local;
mod redis_state;
mod redis_store;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use scillm_core::config::StateConfig;
use secrecy::ExposeSecret;

pub use admit::{admit, PastDeadline};
pub use link::{RedisLink, RedisStateOptions, StateError};
pub use local::LocalState;
pub use redis_state::RedisState;
pub use redis_store::{Gate, RedisStore};
/// The shared state's metric names, defined with every other in `scillm-telemetry`.
pub use scillm_telemetry::names::{STATE_BACKEND_ERRORS_TOTAL, STATE_FALLBACK_TOTAL};
pub use scripts::{cooldown_key, rotation_key, rpm_key, tpm_key, KEY_PREFIX};

/// A deployment's limits: requests and tokens per minute; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens per minute (charged with an estimate, corrected with the real usage).
    pub tpm: Option<u32>,
}

impl RateLimit {
    /// Whether neither limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.rpm.is_none_or(|v| v == 0) && self.tpm.is_none_or(|v| v == 0)
    }
}

/// The answer to [`SharedState::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Capacity was taken: send the request now.
    Granted,
    /// Nothing was taken: ask again after this long (admission, not rejection — SPEC §13).
    Wait(Duration),
}

/// Rate-limit use, cooldowns and rotation (SPEC §13, §18). Calls never fail: a shared
/// implementation whose backend is unreachable answers from process-local state instead.
#[async_trait]
pub trait SharedState: Send + Sync + 'static {
    /// Take one request and `tokens` (an estimate: prompt characters / 4 + `max_tokens`)
    /// from `deployment`'s allowance, both or neither. A request larger than one second's
    /// token allowance is admitted when the token allowance is fully replenished.
    async fn try_acquire(&self, deployment: &str, limit: RateLimit, tokens: u64) -> Admission;

    /// Correct the token charge once the real usage is known: `delta` = real − estimate
    /// (negative gives tokens back).
    async fn correct_tokens(&self, deployment: &str, limit: RateLimit, delta: i64);

    /// Put `deployment` in cooldown for `duration` (a longer cooldown already running is
    /// kept).
    async fn start_cooldown(&self, deployment: &str, duration: Duration);

    /// For each deployment, how long its cooldown still runs (`None` = not cooling).
    async fn cooldowns(&self, deployments: &[&str]) -> Vec<Option<Duration>>;

    /// The next value of `model_name`'s rotation counter (0, 1, 2, …; shared, so processes
    /// rotating among the same deployments interleave instead of all starting at the first).
    async fn next_rotation(&self, model_name: &str) -> u64;
}

/// The state `[state]` asks for (SPEC §18): shared through Redis when `redis_url` (or
/// `SCILLM_REDIS_URL`) is set, else per process. Must be called inside a tokio runtime
/// when a Redis URL is set; a Redis that is down now is not an error.
pub fn from_config(state: &StateConfig) -> Result<Arc<dyn SharedState>, StateError> {
    Ok(match &state.redis_url {
        Some(url) => Arc::new(RedisState::new(url.expose_secret())?),
        None => Arc::new(LocalState::new()),
    })
}
