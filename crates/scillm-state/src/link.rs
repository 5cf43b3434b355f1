//! [`RedisLink`]: one lazily connected, self-healing Redis connection that never makes a
//! caller fail — a call that cannot reach Redis returns `None`, counts
//! `scillm_state_backend_errors_total`, and logs one warning per outage.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;

use scillm_telemetry::record;

/// A Redis URL that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The URL did not parse (the URL itself is not repeated: it may hold a password).
    #[error(
        "[state] redis_url / SCILLM_REDIS_URL is not a usable Redis URL ({0}); \
         expected redis://[user:password@]host:port[/db], or rediss://… for TLS"
    )]
    InvalidUrl(String),
    /// Built outside a tokio runtime (the connection manager runs on one).
    #[error("a Redis connection must be created inside a tokio runtime")]
    NoRuntime,
}

/// Timing of a [`RedisLink`].
#[derive(Debug, Clone, Copy)]
pub struct RedisStateOptions {
    /// Longest wait for a connection or an answer before the call gives up (default
    /// 250 ms).
    pub timeout: Duration,
    /// After a failure, calls skip Redis for this long before trying it again (default
    /// 1 s), so an outage costs one timeout per period, not one per request.
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

/// A connection to Redis shared by every call of a process (cheap to clone).
#[derive(Clone)]
pub struct RedisLink {
    conn: ConnectionManager,
    health: std::sync::Arc<Mutex<Option<Instant>>>,
    options: RedisStateOptions,
    /// What uses the link, in its log lines (`shared state`, `response cache`).
    user: &'static str,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection (and so the URL with its password) is not shown.
        f.debug_struct("RedisLink")
            .field("user", &self.user)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisLink {
    /// A link to the Redis at `url`, named `user` in its log lines. Connects lazily: a
    /// Redis that is down now is not an error. Must be called inside a tokio runtime.
    pub fn new(
        url: &str,
        options: RedisStateOptions,
        user: &'static str,
    ) -> Result<Self, StateError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StateError::NoRuntime);
        }
        let invalid = |e: redis::RedisError| StateError::InvalidUrl(format!("{:?}", e.kind()));
        let client = redis::Client::open(url).map_err(invalid)?;
        // One connection attempt per call (the back-off paces retries), bounded by the
        // timeout; the manager reconnects on the next call after a failure.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(invalid)?;
        Ok(Self {
            conn,
            health: Default::default(),
            options,
            user,
        })
    }

    /// Check that `url` is a usable Redis URL without connecting (for configuration
    /// loading, where there may be no runtime yet).
    pub fn check_url(url: &str) -> Result<(), StateError> {
        redis::Client::open(url)
            .map(|_| ())
            .map_err(|e| StateError::InvalidUrl(format!("{:?}", e.kind())))
    }

    /// Whether the last call reached Redis (false during an outage's back-off).
    pub fn is_up(&self) -> bool {
        self.health.lock().map(|h| h.is_none()).unwrap_or(false)
    }

    /// Run `op` on a connection unless Redis is in its back-off. `None` means Redis was
    /// not reached (the caller uses its fallback); `operation` labels the metrics.
    pub async fn call<T, F, Fut>(&self, operation: &'static str, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let skip = self
            .health
            .lock()
            .map(|h| h.is_some_and(|at| Instant::now() < at))
            .unwrap_or(false);
        if skip {
            record::state_fallback(operation);
            return None;
        }
        // The manager's own timeouts bound each attempt; this bounds the whole call.
        let outcome = tokio::time::timeout(self.options.timeout * 2, op(self.conn.clone())).await;
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
            .map(|mut h| h.take().is_some())
            .unwrap_or(false);
        if was_down {
            tracing::warn!(
                user = self.user,
                "Redis answers again; {} is shared again",
                self.user
            );
        }
    }

    fn mark_down(&self, operation: &'static str, error: &str) {
        record::state_backend_error(operation);
        record::state_fallback(operation);
        let retry_at = Instant::now() + self.options.retry_after;
        let was_up = self
            .health
            .lock()
            .map(|mut h| h.replace(retry_at).is_none())
            .unwrap_or(true);
        if was_up {
            tracing::warn!(
                user = self.user,
                operation,
                error,
                "Redis unreachable; {} falls back to this process until it answers again \
                 (requests are not failed)",
                self.user
            );
        }
    }
}
