//! [`RedisState`]: the shared implementation, with the per-process fallback while Redis is
//! unreachable.

use std::time::Duration;

use async_trait::async_trait;

use crate::link::{RedisLink, RedisStateOptions, StateError};
use crate::scripts::{cooldown_key, rotation_key, rpm_key, tpm_key, Scripts, ROTATION_TTL_S};
use crate::{Admission, LocalState, RateLimit, SharedState};

/// State shared through Redis (SPEC §18). Keys: [`rpm_key`], [`tpm_key`],
/// [`cooldown_key`], [`rotation_key`], all under `scillm:` and all with a TTL.
pub struct RedisState {
    link: RedisLink,
    scripts: Scripts,
    local: LocalState,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("link", &self.link)
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
        Ok(Self {
            link: RedisLink::new(url, options, "rate limiting, cooldowns and rotation")?,
            scripts: Scripts::new(),
            local: LocalState::new(),
        })
    }

    /// Whether the last call reached Redis (false during an outage's back-off).
    pub fn is_shared(&self) -> bool {
        self.link.is_up()
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
        let (rk, tk) = (rpm_key(deployment), tpm_key(deployment));
        let answer = self
            .link
            .call("acquire", |mut conn| async move {
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
        let key = tpm_key(deployment);
        let answer = self
            .link
            .call("correct", |mut conn| async move {
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
        let key = cooldown_key(deployment);
        let _ = self
            .link
            .call("cooldown", |mut conn| async move {
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
        let mut pipe = redis::pipe();
        for d in deployments {
            pipe.cmd("PTTL").arg(cooldown_key(d));
        }
        let shared = self
            .link
            .call("cooldowns", |mut conn| async move {
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
        let key = rotation_key(model_name);
        let answer = self
            .link
            .call("rotation", |mut conn| async move {
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
