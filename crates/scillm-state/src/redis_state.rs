//! [`RedisState`]: the shared implementation, with the per-process fallback while Redis is
//! unreachable.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;

use crate::metrics_names::{STATE_BACKEND_ERRORS_TOTAL, STATE_FALLBACK_TOTAL};
use crate::scripts::{cooldown_key, rotation_key, rpm_key, tpm_key, Scripts, ROTATION_TTL_S};
use crate::{Admission, LocalState, RateLimit, SharedState};

/// A Redis URL that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The URL did not parse (the URL itself is not repeated: it may hold a password).
    #[error(
        "[state] redis_url / SCILLM_REDIS_URL is not a usable Redis URL ({0}); \
         expected redis://[user:password@]host:port[/db] or rediss://…"
    )]
    InvalidUrl(String),
}

/// Timing of [`RedisState`].
#[derive(Debug, Clone, Copy)]
pub struct RedisStateOptions {
    /// Longest wait for a connection or an answer before the call falls back to local
    /// state (default 250 ms).
    pub timeout: Duration,
    /// After a failure, calls use local state for this long before Redis is tried again
    /// (default 1 s), so an outage costs one timeout per period, not one per request.
    pub retry_after: Duration,
}

impl Default for RedisStateOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(250),
            retry_after: Duration::from_secs(1),
        }
    }
}

/// Whether Redis answered lately.
#[derive(Debug, Default)]
struct Health {
    /// Set while Redis is considered down: when to try it again.
    retry_at: Option<Instant>,
}

/// State shared through Redis (SPEC §18). Keys: [`rpm_key`], [`tpm_key`],
/// [`cooldown_key`], [`rotation_key`], all under `scillm:` and all with a TTL.
pub struct RedisState {
    conn: ConnectionManager,
    scripts: Scripts,
    local: LocalState,
    health: Mutex<Health>,
    options: RedisStateOptions,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection (and so the URL with its password) is not shown.
        f.debug_struct("RedisState")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisState {
    /// State in the Redis at `url`, with the default timing. Connects lazily: a Redis that
    /// is down now is not an error (calls fall back until it answers). Must be called
    /// inside a tokio runtime.
    pub fn new(url: &str) -> Result<Self, StateError> {
        Self::with_options(url, RedisStateOptions::default())
    }

    /// As [`RedisState::new`], with explicit timing.
    pub fn with_options(url: &str, options: RedisStateOptions) -> Result<Self, StateError> {
        let client = redis::Client::open(url)
            .map_err(|e| StateError::InvalidUrl(format!("{:?}", e.kind())))?;
        // One connection attempt per call (the back-off above paces retries), bounded by
        // the timeout; the manager reconnects on the next call after a failure.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StateError::InvalidUrl(format!("{:?}", e.kind())))?;
        Ok(Self {
            conn,
            scripts: Scripts::new(),
            local: LocalState::new(),
            health: Mutex::new(Health::default()),
            options,
        })
    }

    /// Whether the last call reached Redis (false during an outage's back-off).
    pub fn is_shared(&self) -> bool {
        self.health
            .lock()
            .map(|h| h.retry_at.is_none())
            .unwrap_or(false)
    }

    /// Run `op` against Redis unless it is in its back-off; `None` means "use local state".
    async fn call<T, F>(&self, operation: &'static str, op: F) -> Option<T>
    where
        F: Future<Output = RedisResult<T>>,
    {
        let skip = self
            .health
            .lock()
            .map(|h| h.retry_at.is_some_and(|at| Instant::now() < at))
            .unwrap_or(false);
        if skip {
            metrics::counter!(STATE_FALLBACK_TOTAL, "operation" => operation).increment(1);
            return None;
        }
        // The manager's own timeouts bound each attempt; this bounds the whole call.
        let outcome = tokio::time::timeout(self.options.timeout * 2, op).await;
        match outcome {
            Ok(Ok(value)) => {
                self.mark_up();
                Some(value)
            }
            Ok(Err(e)) => {
                self.mark_down(operation, &e.to_string());
                None
            }
            Err(_) => {
                self.mark_down(operation, "no answer in time");
                None
            }
        }
    }

    fn mark_up(&self) {
        let was_down = self
            .health
            .lock()
            .map(|mut h| h.retry_at.take().is_some())
            .unwrap_or(false);
        if was_down {
            tracing::warn!("shared state: Redis answers again; rate limits, cooldowns and rotation are shared again");
        }
    }

    fn mark_down(&self, operation: &'static str, error: &str) {
        metrics::counter!(STATE_BACKEND_ERRORS_TOTAL, "operation" => operation).increment(1);
        metrics::counter!(STATE_FALLBACK_TOTAL, "operation" => operation).increment(1);
        let retry_at = Instant::now() + self.options.retry_after;
        let was_up = self
            .health
            .lock()
            .map(|mut h| h.retry_at.replace(retry_at).is_none())
            .unwrap_or(true);
        if was_up {
            tracing::warn!(
                operation,
                error,
                "shared state: Redis unreachable; using per-process rate limits, cooldowns and \
                 rotation until it answers again (requests are not failed)"
            );
        }
    }
}

/// Microseconds from Redis as a duration (at least 1 ms, so a caller never spins).
fn wait_from_micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0)).max(Duration::from_millis(1))
}

#[async_trait]
impl SharedState for RedisState {
    async fn try_acquire(&self, deployment: &str, limit: RateLimit, tokens: u64) -> Admission {
        if limit.is_unlimited() {
            return Admission::Granted;
        }
        let mut conn = self.conn.clone();
        let (rk, tk) = (rpm_key(deployment), tpm_key(deployment));
        let answer = self
            .call("acquire", async {
                let mut inv = self.scripts.acquire.prepare_invoke();
                inv.key(&rk)
                    .key(&tk)
                    .arg(limit.rpm.unwrap_or(0))
                    .arg(limit.tpm.unwrap_or(0))
                    .arg(tokens);
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await;
        match answer {
            Some(0) => Admission::Granted,
            Some(us) => Admission::Wait(wait_from_micros(us)),
            None => self.local.try_acquire(deployment, limit, tokens).await,
        }
    }

    async fn correct_tokens(&self, deployment: &str, limit: RateLimit, delta: i64) {
        if delta == 0 || limit.tpm.is_none_or(|t| t == 0) {
            return;
        }
        let mut conn = self.conn.clone();
        let key = tpm_key(deployment);
        let answer = self
            .call("correct", async {
                let mut inv = self.scripts.correct.prepare_invoke();
                inv.key(&key).arg(limit.tpm.unwrap_or(0)).arg(delta);
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await;
        if answer.is_none() {
            self.local.correct_tokens(deployment, limit, delta).await;
        }
    }

    async fn start_cooldown(&self, deployment: &str, duration: Duration) {
        // Also kept locally, so a cooldown started during an outage is still honoured here.
        self.local.start_cooldown(deployment, duration).await;
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return;
        }
        let mut conn = self.conn.clone();
        let key = cooldown_key(deployment);
        let _ = self
            .call("cooldown", async {
                let mut inv = self.scripts.cooldown.prepare_invoke();
                inv.key(&key).arg(ms);
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await;
    }

    async fn cooldowns(&self, deployments: &[&str]) -> Vec<Option<Duration>> {
        let local = self.local.cooldowns(deployments).await;
        if deployments.is_empty() {
            return local;
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for d in deployments {
            pipe.cmd("PTTL").arg(cooldown_key(d));
        }
        let shared = self
            .call("cooldowns", async {
                pipe.query_async::<Vec<i64>>(&mut conn).await
            })
            .await;
        let Some(shared) = shared else {
            return local;
        };
        // PTTL: -2 no key, -1 no TTL (never written by this crate), else milliseconds left.
        local
            .into_iter()
            .zip(shared)
            .map(|(l, ms)| {
                let s = u64::try_from(ms)
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis);
                l.max(s)
            })
            .collect()
    }

    async fn next_rotation(&self, model_name: &str) -> u64 {
        let mut conn = self.conn.clone();
        let key = rotation_key(model_name);
        let answer = self
            .call("rotation", async {
                let mut inv = self.scripts.rotate.prepare_invoke();
                inv.key(&key).arg(ROTATION_TTL_S);
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await;
        match answer {
            Some(n) => u64::try_from(n).unwrap_or(0),
            None => self.local.next_rotation(model_name).await,
        }
    }
}
