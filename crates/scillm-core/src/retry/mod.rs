//! The one retry policy: backoff with jitter, wait hints, caps, deadline and [`RetryStats`].
//!
//! Sleep before retry `n` (1-based) is `min(base·2^(n-1), max) · (1.05 + 0.10·u)` with `u`
//! uniform in `[0,1)`, drawn from a seeded RNG when a seed is configured (SPEC §4). An
//! upstream wait hint ([`wait_hint`]: `retry-after-ms`, `x-ms-retry-after-ms`,
//! `Retry-After`, an exhausted 429's `x-ratelimit-reset-*`; SPEC §11) replaces the
//! backoff; a wait beyond `max_retry_after` or past the deadline ends retrying with a
//! `rate_limited` error.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{ErrorKind, ProviderError};

mod stats;
mod wait_hint;

pub use stats::{RetryStats, RetryStatsSlot};
pub use wait_hint::{parse_millis, parse_reset_duration, parse_retry_after, wait_hint};

/// Retry settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Extra attempts after the first (default 2).
    pub max_retries: u32,
    /// Backoff base (default 120 ms).
    pub base: Duration,
    /// Backoff ceiling before jitter (default 1500 ms).
    pub max_backoff: Duration,
    /// The longest wait hint honoured (default 60 s, `max_retry_after_s`).
    pub max_retry_after: Duration,
    /// Jitter seed; `None` draws from the OS RNG.
    pub seed: Option<u64>,
    /// Log one line per retry (`CODEX_AGENT_LOG_RETRIES=1`).
    pub log_retries: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base: Duration::from_millis(120),
            max_backoff: Duration::from_millis(1500),
            max_retry_after: Duration::from_secs(60),
            seed: None,
            log_retries: false,
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry `n` (1-based) for a jitter draw `u` in `[0,1)`.
    pub fn backoff(&self, n: u32, u: f64) -> Duration {
        let exp = n.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exp);
        let capped = raw.min(self.max_backoff);
        capped.mul_f64(1.05 + 0.10 * u.clamp(0.0, 1.0))
    }

    /// This policy with at most `cap` retries (`None`: unchanged). The router passes a cap
    /// of 0 in [`crate::CallContext::max_retries`] when another target can take a failure at
    /// once, so the provider does not wait out a hint first (SPEC §13).
    pub fn capped(&self, cap: Option<u32>) -> std::borrow::Cow<'_, RetryPolicy> {
        match cap {
            Some(c) if c < self.max_retries => std::borrow::Cow::Owned(RetryPolicy {
                max_retries: c,
                ..self.clone()
            }),
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// A jitter source: seeded when the policy has a seed.
    pub fn jitter(&self) -> Jitter {
        match self.seed {
            Some(seed) => Jitter::seeded(seed),
            None => Jitter::random(),
        }
    }
}

/// Draws the `u` of the backoff formula.
#[derive(Debug)]
pub struct Jitter(StdRng);

impl Jitter {
    /// A reproducible sequence.
    pub fn seeded(seed: u64) -> Self {
        Self(StdRng::seed_from_u64(seed))
    }

    /// A sequence from the OS RNG.
    pub fn random() -> Self {
        Self(StdRng::from_os_rng())
    }

    /// The next `u` in `[0,1)`.
    pub fn next_unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }
}

/// Whether an error of this kind is worth another attempt.
pub fn is_retryable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Server
            | ErrorKind::Connect
            | ErrorKind::Timeout
            | ErrorKind::InvalidResponse
            | ErrorKind::RateLimited
    )
}

/// Run `attempt` under `policy` until it succeeds, fails for good, or time runs out.
///
/// `attempt(n)` gets the 0-based attempt number and returns the value with the HTTP status
/// it came with. The stats are written to `slot` whatever the outcome.
pub async fn run_with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    deadline: Option<Instant>,
    slot: &RetryStatsSlot,
    label: &str,
    mut attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(T, Option<u16>), ProviderError>>,
{
    let mut stats = RetryStats::default();
    // Drawn on first use: a call that succeeds at once never seeds an RNG.
    let mut jitter: Option<Jitter> = None;
    let mut n = 0u32;
    loop {
        let err = match attempt(n).await {
            Ok((value, status)) => {
                if let Some(s) = status {
                    stats.see_status(s);
                }
                stats.final_status = status;
                slot.record(stats);
                return Ok(value);
            }
            Err(e) => e,
        };
        stats.failures += 1;
        stats.final_status = err.status;
        if let Some(s) = err.status {
            stats.see_status(s);
            stats.first_failure_status.get_or_insert(s);
        }
        if let Some(ra) = err.retry_after {
            stats.last_retry_after_s = Some(ra.as_secs_f64());
        }
        if !is_retryable(err.kind) || n >= policy.max_retries {
            slot.record(stats);
            return Err(err);
        }
        let wait = match next_wait(policy, &err, deadline, &mut jitter, n + 1) {
            Ok(w) => w,
            Err(e) => {
                slot.record(stats);
                return Err(e);
            }
        };
        n += 1;
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        stats.attempts = n;
        stats.retry_sequence.push(ms);
        stats.total_sleep_ms = stats.total_sleep_ms.saturating_add(ms);
        // Recorded before sleeping: a caller that times out or is cancelled during the
        // sleep or the next attempt still sees every retry made (SPEC §13).
        slot.record(stats.clone());
        if policy.log_retries {
            tracing::warn!(
                target: "scillm::retry",
                "{label}: retry {n}/{} after {ms} ms ({})",
                policy.max_retries,
                err
            );
        }
        tokio::time::sleep(wait).await;
    }
}

/// The wait before retry `n`, or the error that ends retrying.
fn next_wait(
    policy: &RetryPolicy,
    err: &ProviderError,
    deadline: Option<Instant>,
    jitter: &mut Option<Jitter>,
    n: u32,
) -> Result<Duration, ProviderError> {
    let wait = match err.retry_after {
        Some(ra) if ra > policy.max_retry_after => {
            return Err(rate_limited(err, format!(
                "upstream asked to wait {:.1} s (its wait hint), beyond the {:.0} s this client waits (max_retry_after_s); last upstream error: {}",
                ra.as_secs_f64(),
                policy.max_retry_after.as_secs_f64(),
                err.message
            )));
        }
        Some(ra) => ra,
        None => policy.backoff(n, jitter.get_or_insert_with(|| policy.jitter()).next_unit()),
    };
    if let Some(d) = deadline {
        if Instant::now() + wait >= d {
            if err.retry_after.is_some() {
                return Err(rate_limited(
                    err,
                    format!(
                        "upstream asked to wait {:.1} s (its wait hint), past the call's deadline; last upstream error: {}",
                        wait.as_secs_f64(),
                        err.message
                    ),
                ));
            }
            let mut e = err.clone();
            e.message = format!("{} (no time left for another attempt)", e.message);
            return Err(e);
        }
    }
    Ok(wait)
}

fn rate_limited(err: &ProviderError, message: String) -> ProviderError {
    ProviderError {
        kind: ErrorKind::RateLimited,
        status: err.status,
        message,
        body_excerpt: err.body_excerpt.clone(),
        retry_after: err.retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_for_a_fixed_seed_is_reproducible_and_follows_the_formula() {
        let p = RetryPolicy {
            seed: Some(42),
            ..RetryPolicy::default()
        };
        let mut a = p.jitter();
        let mut b = p.jitter();
        let seq_a: Vec<_> = (1..=5).map(|n| p.backoff(n, a.next_unit())).collect();
        let seq_b: Vec<_> = (1..=5).map(|n| p.backoff(n, b.next_unit())).collect();
        assert_eq!(seq_a, seq_b);
        let mut j = Jitter::seeded(42);
        for (i, d) in seq_a.iter().enumerate() {
            let n = i as u32 + 1;
            let u = j.next_unit();
            let expect = (120.0 * 2f64.powi(n as i32 - 1)).min(1500.0) * (1.05 + 0.10 * u);
            assert!(
                (d.as_secs_f64() * 1000.0 - expect).abs() < 0.01,
                "{d:?} vs {expect}"
            );
        }
    }

    #[test]
    fn backoff_bounds_without_a_seed() {
        let p = RetryPolicy::default();
        let mut j = p.jitter();
        for n in 1..=10 {
            let d = p.backoff(n, j.next_unit()).as_secs_f64() * 1000.0;
            let raw = (120.0 * 2f64.powi(n as i32 - 1)).min(1500.0);
            assert!(
                d >= raw * 1.05 - 1e-6 && d < raw * 1.15 + 1e-6,
                "n={n} d={d}"
            );
        }
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(126));
        assert_eq!(p.backoff(20, 0.0), Duration::from_millis(1575));
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            seed: Some(1),
            ..RetryPolicy::default()
        }
    }

    #[tokio::test]
    async fn stats_after_two_failures_then_success() {
        let slot = RetryStatsSlot::new();
        let calls = AtomicU32::new(0);
        let out = run_with_retry(&fast(), None, &slot, "t", |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(ProviderError::from_status(502, "bad gateway"))
                } else {
                    Ok(("ok", Some(200)))
                }
            }
        })
        .await;
        assert_eq!(out.ok(), Some("ok"));
        let s = slot.get().unwrap_or_default();
        assert_eq!(s.failures, 2);
        assert_eq!(s.attempts, 2);
        assert_eq!(s.final_status, Some(200));
        assert_eq!(s.first_failure_status, Some(502));
        assert_eq!(s.retry_sequence.len(), 2);
        assert_eq!(s.statuses, vec![502, 200]);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_but_stats_are_kept() {
        let slot = RetryStatsSlot::new();
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = run_with_retry(&fast(), None, &slot, "t", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(ProviderError::from_status(401, "no")) }
        })
        .await;
        assert_eq!(out.err().map(|e| e.kind), Some(ErrorKind::Auth));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let s = slot.get().unwrap_or_default();
        assert_eq!((s.failures, s.attempts, s.final_status), (1, 0, Some(401)));
    }

    #[tokio::test]
    async fn retry_after_beyond_cap_gives_up_at_once() {
        let slot = RetryStatsSlot::new();
        let started = Instant::now();
        let out: Result<(), _> = run_with_retry(&fast(), None, &slot, "t", |_| async {
            Err(ProviderError::from_status(429, "slow down")
                .with_retry_after(Some(Duration::from_secs(3600))))
        })
        .await;
        let err = out.err().map(|e| e.kind);
        assert_eq!(err, Some(ErrorKind::RateLimited));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(slot.get().and_then(|s| s.last_retry_after_s), Some(3600.0));
    }

    #[tokio::test]
    async fn retry_after_past_the_deadline_gives_up_as_rate_limited() {
        let slot = RetryStatsSlot::new();
        let deadline = Instant::now() + Duration::from_millis(200);
        let out: Result<(), _> = run_with_retry(&fast(), Some(deadline), &slot, "t", |_| async {
            Err(ProviderError::from_status(429, "").with_retry_after(Some(Duration::from_secs(5))))
        })
        .await;
        assert_eq!(out.err().map(|e| e.kind), Some(ErrorKind::RateLimited));
    }
}
