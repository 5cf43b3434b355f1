//! Where the router keeps what deployments share across requests: rate-limit use
//! (`rpm`/`tpm` admission), cooldowns, failures in a row, rotation and the use of the
//! current minute (SPEC §13, §18).
//!
//! The router talks to this state only through [`RouterState`]; [`LocalState`] keeps it
//! in this process. A store shared by several processes implements the same trait, and
//! nothing else in the router changes.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::limiter::{Admission, Limiter};

/// The limits of one deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests per minute (smoothed; burst `rpm/60`, at least 1).
    pub rpm: Option<u32>,
    /// Tokens per minute (smoothed; burst `tpm/60`, at least 1).
    pub tpm: Option<u64>,
}

/// Use of a deployment in the current minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Requests admitted.
    pub requests: u64,
    /// Tokens charged (estimates, corrected by real usage).
    pub tokens: u64,
}

/// An admission that could not happen in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmitError {
    /// `rpm` or `tpm`.
    pub limit: &'static str,
    /// How long capacity was still away when the deadline made waiting pointless.
    pub wait: Duration,
}

/// Shared router state, keyed by deployment id (`{model_name}#{n}`) and model name.
///
/// Every method but [`RouterState::admit`] is quick and never blocks on I/O.
#[async_trait]
pub trait RouterState: Send + Sync + fmt::Debug {
    /// Declare `deployment` with its limits; called once per deployment when a router is
    /// built.
    fn register(&self, deployment: &str, limits: Limits);

    /// Wait until `deployment` may take one more request charged `tokens` (its tpm
    /// estimate), first come first served. Gives up at once, without waiting, when the
    /// capacity comes after `deadline`.
    async fn admit(
        &self,
        deployment: &str,
        tokens: u64,
        deadline: Option<Instant>,
    ) -> Result<(), AdmitError>;

    /// Correct a request's token charge with the real usage (`actual` tokens).
    fn settle(&self, deployment: &str, charged: u64, actual: u64);

    /// Skip `deployment` for `period` from now.
    fn cool_down(&self, deployment: &str, period: Duration);

    /// How long `deployment` still cools down, if it does.
    fn cooldown_left(&self, deployment: &str) -> Option<Duration>;

    /// Count one more failure in a row of `deployment`; returns the count.
    fn record_failure(&self, deployment: &str) -> u32;

    /// A success: clear the failures in a row.
    fn record_success(&self, deployment: &str);

    /// The next value of `model`'s rotation counter.
    fn next_rotation(&self, model: &str) -> u64;

    /// `deployment`'s use in the current minute.
    fn usage(&self, deployment: &str) -> Usage;
}

/// The counter under `key`, made at 0 on first use (`None` only if the lock is poisoned).
pub(crate) fn counter_of(
    map: &RwLock<HashMap<String, Arc<AtomicU64>>>,
    key: &str,
) -> Option<Arc<AtomicU64>> {
    if let Some(c) = map.read().ok()?.get(key) {
        return Some(Arc::clone(c));
    }
    Some(Arc::clone(
        map.write().ok()?.entry(key.to_string()).or_default(),
    ))
}

/// The state of one deployment in this process.
#[derive(Debug)]
struct Entry {
    limiter: Limiter,
    /// Cooldown end, in ms since [`LocalState::epoch`] (0: none).
    cooldown_until_ms: AtomicU64,
    failures: AtomicU32,
}

/// [`RouterState`] kept in this process: `governor` rate limiters, atomics for the rest.
#[derive(Debug)]
pub struct LocalState {
    epoch: Instant,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    rotations: RwLock<HashMap<String, Arc<AtomicU64>>>,
}

impl Default for LocalState {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalState {
    /// An empty state.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            entries: RwLock::new(HashMap::new()),
            rotations: RwLock::new(HashMap::new()),
        }
    }

    fn entry(&self, deployment: &str) -> Option<Arc<Entry>> {
        self.entries.read().ok()?.get(deployment).cloned()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[async_trait]
impl RouterState for LocalState {
    fn register(&self, deployment: &str, limits: Limits) {
        let entry = Arc::new(Entry {
            limiter: Limiter::new(limits),
            cooldown_until_ms: Default::default(),
            failures: Default::default(),
        });
        if let Ok(mut map) = self.entries.write() {
            map.insert(deployment.to_string(), entry);
        }
    }

    async fn admit(
        &self,
        deployment: &str,
        tokens: u64,
        deadline: Option<Instant>,
    ) -> Result<(), AdmitError> {
        let Some(entry) = self.entry(deployment) else {
            return Ok(());
        };
        match entry.limiter.try_admit(tokens) {
            Admission::Now => Ok(()),
            Admission::Queue(pending) => entry.limiter.admit_queued(pending, deadline).await,
        }
    }

    fn settle(&self, deployment: &str, charged: u64, actual: u64) {
        if let Some(e) = self.entry(deployment) {
            e.limiter.settle(charged, actual);
        }
    }

    fn cool_down(&self, deployment: &str, period: Duration) {
        if period.is_zero() {
            return;
        }
        if let Some(e) = self.entry(deployment) {
            let until = self
                .now_ms()
                .saturating_add(u64::try_from(period.as_millis()).unwrap_or(u64::MAX))
                .max(1);
            e.cooldown_until_ms.fetch_max(until, Ordering::Relaxed);
        }
    }

    fn cooldown_left(&self, deployment: &str) -> Option<Duration> {
        let e = self.entry(deployment)?;
        let until = e.cooldown_until_ms.load(Ordering::Relaxed);
        let now = self.now_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }

    fn record_failure(&self, deployment: &str) -> u32 {
        self.entry(deployment).map_or(1, |e| {
            e.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1)
        })
    }

    fn record_success(&self, deployment: &str) {
        if let Some(e) = self.entry(deployment) {
            if e.failures.load(Ordering::Relaxed) != 0 {
                e.failures.store(0, Ordering::Relaxed);
            }
        }
    }

    fn next_rotation(&self, model: &str) -> u64 {
        counter_of(&self.rotations, model).map_or(0, |c| c.fetch_add(1, Ordering::Relaxed))
    }

    fn usage(&self, deployment: &str) -> Usage {
        self.entry(deployment)
            .map(|e| e.limiter.usage())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cooldowns_failures_and_rotation() {
        let s = LocalState::new();
        s.register("m#0", Limits::default());
        assert_eq!(s.cooldown_left("m#0"), None);
        s.cool_down("m#0", Duration::from_secs(20));
        let left = s.cooldown_left("m#0").unwrap_or_default();
        assert!(left > Duration::from_secs(19) && left <= Duration::from_secs(20));
        assert_eq!(s.record_failure("m#0"), 1);
        assert_eq!(s.record_failure("m#0"), 2);
        s.record_success("m#0");
        assert_eq!(s.record_failure("m#0"), 1);
        assert_eq!(
            (
                s.next_rotation("m"),
                s.next_rotation("m"),
                s.next_rotation("x")
            ),
            (0, 1, 0)
        );
        assert_eq!(s.admit("m#0", 10, None).await, Ok(()));
        assert_eq!(s.usage("m#0").requests, 1);
    }

    #[tokio::test]
    async fn a_wait_past_the_deadline_is_refused_without_waiting() {
        let s = LocalState::new();
        s.register(
            "m#0",
            Limits {
                rpm: Some(60),
                tpm: None,
            },
        );
        assert_eq!(s.admit("m#0", 0, None).await, Ok(()));
        let started = Instant::now();
        let err = s
            .admit("m#0", 0, Some(Instant::now() + Duration::from_millis(100)))
            .await;
        assert_eq!(err.as_ref().map_err(|e| e.limit), Err("rpm"));
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
