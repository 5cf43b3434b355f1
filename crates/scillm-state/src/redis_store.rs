//! [`RedisStore`]: the Redis operations alone — each answers `None` when Redis was not
//! reached, so the caller picks its own fallback ([`crate::RedisState`] uses a
//! [`crate::LocalState`]; a router with its own per-process state uses that).

use std::time::Duration;

use crate::link::{RedisLink, RedisStateOptions, StateError};
use crate::scripts::{cooldown_key, rotation_key, rpm_key, tpm_key, Scripts, ROTATION_TTL_S};
use crate::{Admission, RateLimit};

/// Rate-limit use, cooldowns and rotation in Redis. Keys: [`rpm_key`], [`tpm_key`],
/// [`cooldown_key`], [`rotation_key`], all under `scillm:` and all with a TTL.
pub struct RedisStore {
    link: RedisLink,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// The answer to [`RedisStore::acquire_unless_cooling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Capacity was taken: send the request now.
    Open,
    /// Nothing was taken: capacity comes back after this long (SPEC §13 admission).
    Wait(Duration),
    /// Nothing was taken: the deployment cools down (started by any process) for this long.
    Cooling(Duration),
}

/// Microseconds from Redis as a duration (at least 1 ms, so a caller never spins).
fn wait_from_micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0)).max(Duration::from_millis(1))
}

impl RedisStore {
    /// A store in the Redis at `url` (connects lazily; needs a tokio runtime).
    pub fn new(url: &str, options: RedisStateOptions) -> Result<Self, StateError> {
        Ok(Self {
            link: RedisLink::new(url, options, "rate limiting, cooldowns and rotation")?,
            scripts: Scripts::new(),
        })
    }

    /// Whether the last call reached Redis.
    pub fn is_up(&self) -> bool {
        self.link.is_up()
    }

    /// Take one request and `tokens` from both allowances or neither (GCRA in one Lua
    /// script, Redis's clock).
    pub async fn try_acquire(
        &self,
        deployment: &str,
        limit: RateLimit,
        tokens: u64,
    ) -> Option<Admission> {
        Some(
            match self.acquire(deployment, limit, 1, tokens, false).await? {
                0 => Admission::Granted,
                us => Admission::Wait(wait_from_micros(us)),
            },
        )
    }

    /// Like [`RedisStore::try_acquire`], in the same single script call, but first checks
    /// `deployment`'s shared cooldown: while it cools down nothing is charged and the
    /// answer is [`Gate::Cooling`] with the time left. Unlimited deployments cost the
    /// cooldown check only.
    pub async fn acquire_unless_cooling(
        &self,
        deployment: &str,
        limit: RateLimit,
        tokens: u64,
    ) -> Option<Gate> {
        self.acquire_many_unless_cooling(deployment, limit, 1, tokens)
            .await
    }

    /// Like [`RedisStore::acquire_unless_cooling`] for `requests` requests together
    /// charged `tokens` in all: admitted all or none, exactly as that many requests
    /// admitted one after another at the same instant. One script call for a group of
    /// requests that arrived together (the router batches concurrent admissions).
    pub async fn acquire_many_unless_cooling(
        &self,
        deployment: &str,
        limit: RateLimit,
        requests: u64,
        tokens: u64,
    ) -> Option<Gate> {
        Some(
            match self
                .acquire(deployment, limit, requests.max(1), tokens, true)
                .await?
            {
                0 => Gate::Open,
                ms if ms < 0 => Gate::Cooling(Duration::from_millis(ms.unsigned_abs())),
                us => Gate::Wait(wait_from_micros(us)),
            },
        )
    }

    /// Run the acquire script (with the cooldown check when `cooling` is set): its raw
    /// answer (see the script in `scripts.rs`).
    async fn acquire(
        &self,
        deployment: &str,
        limit: RateLimit,
        requests: u64,
        tokens: u64,
        cooling: bool,
    ) -> Option<i64> {
        let mut keys = vec![rpm_key(deployment), tpm_key(deployment)];
        if cooling {
            keys.push(cooldown_key(deployment));
        }
        self.link
            .call("acquire", |mut conn| async move {
                let mut inv = self.scripts.acquire.prepare_invoke();
                for key in &keys {
                    inv.key(key);
                }
                inv.arg(limit.rpm.unwrap_or(0))
                    .arg(limit.tpm.unwrap_or(0))
                    .arg(tokens)
                    .arg(requests);
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await
    }

    /// Move the token allowance by `delta` tokens (real − estimate).
    pub async fn correct_tokens(&self, deployment: &str, tpm: u32, delta: i64) -> Option<()> {
        let key = tpm_key(deployment);
        self.link
            .call("correct", |mut conn| async move {
                let mut inv = self.scripts.correct.prepare_invoke();
                inv.key(&key).arg(tpm).arg(delta);
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await
            .map(|_| ())
    }

    /// Start a cooldown of `duration` unless a longer one runs.
    pub async fn start_cooldown(&self, deployment: &str, duration: Duration) -> Option<()> {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return Some(());
        }
        let key = cooldown_key(deployment);
        self.link
            .call("cooldown", |mut conn| async move {
                let mut inv = self.scripts.cooldown.prepare_invoke();
                inv.key(&key).arg(ms);
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await
            .map(|_| ())
    }

    /// For each deployment, its remaining cooldown (one pipelined round trip).
    pub async fn cooldowns(&self, deployments: &[&str]) -> Option<Vec<Option<Duration>>> {
        if deployments.is_empty() {
            return Some(Vec::new());
        }
        let mut pipe = redis::pipe();
        for d in deployments {
            pipe.cmd("PTTL").arg(cooldown_key(d));
        }
        let ttls = self
            .link
            .call("cooldowns", |mut conn| async move {
                pipe.query_async::<Vec<i64>>(&mut conn).await
            })
            .await?;
        // PTTL: -2 no key, -1 no TTL (never written by this crate), else milliseconds left.
        Some(
            ttls.into_iter()
                .map(|ms| {
                    u64::try_from(ms)
                        .ok()
                        .filter(|ms| *ms > 0)
                        .map(Duration::from_millis)
                })
                .collect(),
        )
    }

    /// The next value of `model_name`'s shared rotation counter.
    pub async fn next_rotation(&self, model_name: &str) -> Option<u64> {
        let key = rotation_key(model_name);
        let n = self
            .link
            .call("rotation", |mut conn| async move {
                let mut inv = self.scripts.rotate.prepare_invoke();
                inv.key(&key).arg(ROTATION_TTL_S);
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await?;
        Some(u64::try_from(n).unwrap_or(0))
    }
}
