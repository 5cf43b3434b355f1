//! Per-process state: rate limits with `governor`, cooldowns and rotation counters in
//! memory. Also the fallback of [`crate::RedisState`] while Redis is unreachable.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::{Admission, RateLimit, SharedState};

/// One smoothed limit: `per_min` units per minute, burst one second's worth (at least 1).
struct Limiter {
    per_min: NonZeroU32,
    burst: NonZeroU32,
    inner: DefaultDirectRateLimiter,
}

impl Limiter {
    fn new(per_min: NonZeroU32) -> Self {
        let burst = NonZeroU32::new(per_min.get() / 60).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_min).allow_burst(burst);
        Self {
            per_min,
            burst,
            inner: RateLimiter::direct(quota),
        }
    }
}

/// Limiters and cooldowns of one deployment.
#[derive(Default)]
struct DeploymentState {
    rpm: Option<Limiter>,
    tpm: Option<Limiter>,
}

/// Rate limits, cooldowns and rotation kept in this process's memory.
#[derive(Default)]
pub struct LocalState {
    limits: Mutex<HashMap<String, DeploymentState>>,
    cooldowns: Mutex<HashMap<String, Instant>>,
    rotations: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for LocalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalState").finish_non_exhaustive()
    }
}

impl LocalState {
    /// Empty state.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The limiter for `per_min`, rebuilt when the configured limit changed.
fn limiter_for(slot: &mut Option<Limiter>, per_min: Option<u32>) -> Option<&Limiter> {
    let Some(per_min) = per_min.and_then(NonZeroU32::new) else {
        *slot = None;
        return None;
    };
    if slot.as_ref().is_none_or(|l| l.per_min != per_min) {
        *slot = Some(Limiter::new(per_min));
    }
    slot.as_ref()
}

/// Take `cost` units (capped at the burst: a larger request waits for a full allowance).
fn take(limiter: &Limiter, cost: u64, clock: &DefaultClock) -> Result<(), Duration> {
    let capped = u32::try_from(cost.max(1))
        .unwrap_or(u32::MAX)
        .min(limiter.burst.get());
    let n = NonZeroU32::new(capped).unwrap_or(NonZeroU32::MIN);
    match limiter.inner.check_n(n) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => Err(not_until.wait_time_from(clock.now())),
        // Unreachable: `n` is capped at the burst.
        Err(_) => Err(Duration::from_secs(1)),
    }
}

#[async_trait]
impl SharedState for LocalState {
    async fn try_acquire(&self, deployment: &str, limit: RateLimit, tokens: u64) -> Admission {
        if limit.is_unlimited() {
            return Admission::Granted;
        }
        let clock = DefaultClock::default();
        let Ok(mut map) = self.limits.lock() else {
            return Admission::Granted;
        };
        let state = map.entry(deployment.to_owned()).or_default();
        // `governor` cannot give units back: when the request slot is refused after the
        // tokens were taken, those tokens stay charged. That over-counts (sends later than
        // needed) and never over-sends; it happens only in this per-process state.
        if let Some(tpm) = limiter_for(&mut state.tpm, limit.tpm) {
            if let Err(wait) = take(tpm, tokens, &clock) {
                return Admission::Wait(wait);
            }
        }
        if let Some(rpm) = limiter_for(&mut state.rpm, limit.rpm) {
            if let Err(wait) = take(rpm, 1, &clock) {
                return Admission::Wait(wait);
            }
        }
        Admission::Granted
    }

    async fn correct_tokens(&self, deployment: &str, limit: RateLimit, delta: i64) {
        // `governor` can charge more but not give back: only a positive correction applies.
        let Ok(extra) = u64::try_from(delta) else {
            return;
        };
        if extra == 0 {
            return;
        }
        let clock = DefaultClock::default();
        if let Ok(mut map) = self.limits.lock() {
            let state = map.entry(deployment.to_owned()).or_default();
            if let Some(tpm) = limiter_for(&mut state.tpm, limit.tpm) {
                let _ = take(tpm, extra, &clock);
            }
        }
    }

    async fn start_cooldown(&self, deployment: &str, duration: Duration) {
        let until = Instant::now() + duration;
        if let Ok(mut map) = self.cooldowns.lock() {
            let entry = map.entry(deployment.to_owned()).or_insert(until);
            if *entry < until {
                *entry = until;
            }
        }
    }

    async fn cooldowns(&self, deployments: &[&str]) -> Vec<Option<Duration>> {
        let now = Instant::now();
        let Ok(mut map) = self.cooldowns.lock() else {
            return vec![None; deployments.len()];
        };
        map.retain(|_, until| *until > now);
        deployments
            .iter()
            .map(|d| {
                map.get(*d)
                    .map(|until| until.saturating_duration_since(now))
            })
            .collect()
    }

    async fn next_rotation(&self, model_name: &str) -> u64 {
        let Ok(mut map) = self.rotations.lock() else {
            return 0;
        };
        let n = map.entry(model_name.to_owned()).or_insert(0);
        let current = *n;
        *n = n.wrapping_add(1);
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn burst_is_one_second_of_allowance() {
        let state = LocalState::new();
        let limit = RateLimit {
            rpm: Some(600),
            tpm: None,
        };
        let mut granted = 0;
        for _ in 0..30 {
            if state.try_acquire("d", limit, 0).await == Admission::Granted {
                granted += 1;
            }
        }
        // 600 rpm = 10 per second, so a burst of 10 (plus at most one replenished meanwhile).
        assert!((10..=11).contains(&granted), "granted {granted}");
        match state.try_acquire("d", limit, 0).await {
            Admission::Wait(d) => assert!(d <= Duration::from_millis(100), "{d:?}"),
            Admission::Granted => {}
        }
    }

    #[tokio::test]
    async fn token_limit_waits_and_big_requests_wait_for_a_full_allowance() {
        let state = LocalState::new();
        let limit = RateLimit {
            rpm: None,
            tpm: Some(6000),
        };
        // One second's allowance is 100 tokens; a 5000-token request needs all of it.
        assert_eq!(
            state.try_acquire("d", limit, 5000).await,
            Admission::Granted
        );
        assert!(matches!(
            state.try_acquire("d", limit, 10).await,
            Admission::Wait(_)
        ));
    }

    #[tokio::test]
    async fn cooldown_keeps_the_longer_and_ends() {
        let state = LocalState::new();
        state.start_cooldown("a", Duration::from_secs(60)).await;
        state.start_cooldown("a", Duration::from_millis(1)).await;
        let c = state.cooldowns(&["a", "b"]).await;
        assert!(c[0].is_some_and(|d| d > Duration::from_secs(59)));
        assert_eq!(c[1], None);
        state.start_cooldown("b", Duration::ZERO).await;
        assert_eq!(state.cooldowns(&["b"]).await, vec![None]);
    }

    #[tokio::test]
    async fn rotation_counts_per_model() {
        let state = LocalState::new();
        assert_eq!(state.next_rotation("m").await, 0);
        assert_eq!(state.next_rotation("m").await, 1);
        assert_eq!(state.next_rotation("n").await, 0);
    }
}
