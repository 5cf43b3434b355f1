//! Rate limits as admission (SPEC §13): `governor` GCRA limiters for `rpm` and `tpm`,
//! smoothed so the burst is one second's allowance (`limit/60`, at least 1), a
//! first-come-first-served queue for requests that must wait, and the token charge
//! corrected by real usage.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::state::{AdmitError, Limits, Usage};

/// One smoothed limit: `per_minute` cells a minute, burst `per_minute/60` (≥ 1).
#[derive(Debug)]
struct Gcra {
    limiter: DefaultDirectRateLimiter,
    burst: u32,
}

impl Gcra {
    fn per_minute(per_minute: u64) -> Option<Self> {
        let per_minute = u32::try_from(per_minute.max(1)).unwrap_or(u32::MAX);
        let burst = (per_minute / 60).max(1);
        let quota =
            Quota::per_minute(NonZeroU32::new(per_minute)?).allow_burst(NonZeroU32::new(burst)?);
        Some(Self {
            limiter: RateLimiter::direct(quota),
            burst,
        })
    }

    /// Take `n` (≤ burst) cells now, or say how long until they are there.
    fn try_take(&self, n: u32, clock: &DefaultClock) -> Result<(), Duration> {
        let Some(n) = NonZeroU32::new(n.min(self.burst)) else {
            return Ok(());
        };
        match self.limiter.check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(clock.now())),
            // Cannot happen: `n` is capped at the burst.
            Err(_) => Ok(()),
        }
    }

    /// Take `n` cells (in burst-sized pieces), waiting as needed; refuse a wait that
    /// ends after `deadline`.
    async fn take(
        &self,
        mut n: u64,
        deadline: Option<Instant>,
        clock: &DefaultClock,
        limit: &'static str,
    ) -> Result<(), AdmitError> {
        while n > 0 {
            let piece = u32::try_from(n.min(u64::from(self.burst))).unwrap_or(self.burst);
            loop {
                match self.try_take(piece, clock) {
                    Ok(()) => break,
                    Err(wait) => {
                        if deadline.is_some_and(|d| Instant::now() + wait > d) {
                            return Err(AdmitError { limit, wait });
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            n -= u64::from(piece);
        }
        Ok(())
    }
}

/// What is left of an admission that could not happen at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    rpm_taken: bool,
    charge: u64,
}

/// The outcome of a non-waiting admission.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Admitted.
    Now,
    /// Must wait in the queue for the rest.
    Queue(Pending),
}

/// The limits of one deployment and its use this minute.
#[derive(Debug)]
pub(crate) struct Limiter {
    rpm: Option<Gcra>,
    tpm: Option<Gcra>,
    clock: DefaultClock,
    /// Tokens still to charge (> 0: used more than estimated) or to credit (< 0).
    correction: AtomicI64,
    /// Requests waiting in the queue; while any wait, newcomers queue behind them.
    waiters: AtomicUsize,
    queue: tokio::sync::Mutex<()>,
    epoch: Instant,
    minute: AtomicU64,
    requests: AtomicU64,
    tokens: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            rpm: limits.rpm.and_then(|r| Gcra::per_minute(u64::from(r))),
            tpm: limits.tpm.and_then(Gcra::per_minute),
            clock: DefaultClock::default(),
            correction: AtomicI64::new(0),
            waiters: AtomicUsize::new(0),
            queue: tokio::sync::Mutex::new(()),
            epoch: Instant::now(),
            minute: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
        }
    }

    /// Admit a request estimated at `tokens` now if capacity allows and nobody waits.
    pub(crate) fn try_admit(&self, tokens: u64) -> Admission {
        let charge = if self.tpm.is_some() {
            self.charge_for(tokens)
        } else {
            tokens
        };
        self.count(charge);
        if self.rpm.is_none() && self.tpm.is_none() {
            return Admission::Now;
        }
        let queued = Admission::Queue(Pending {
            rpm_taken: false,
            charge,
        });
        if self.waiters.load(Ordering::Acquire) > 0 {
            return queued;
        }
        if let Some(rpm) = &self.rpm {
            if rpm.try_take(1, &self.clock).is_err() {
                return queued;
            }
        }
        match &self.tpm {
            Some(tpm) if charge > 0 => {
                if charge <= u64::from(tpm.burst)
                    && tpm
                        .try_take(u32::try_from(charge).unwrap_or(u32::MAX), &self.clock)
                        .is_ok()
                {
                    Admission::Now
                } else {
                    Admission::Queue(Pending {
                        rpm_taken: true,
                        charge,
                    })
                }
            }
            _ => Admission::Now,
        }
    }

    /// Wait in the queue for what `pending` still needs.
    pub(crate) async fn admit_queued(
        &self,
        pending: Pending,
        deadline: Option<Instant>,
    ) -> Result<(), AdmitError> {
        self.waiters.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiters);
        let limit = if pending.rpm_taken { "tpm" } else { "rpm" };
        let _turn = match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), self.queue.lock())
                .await
                .map_err(|_| AdmitError {
                    limit,
                    wait: Duration::ZERO,
                })?,
            None => self.queue.lock().await,
        };
        if let (Some(rpm), false) = (&self.rpm, pending.rpm_taken) {
            rpm.take(1, deadline, &self.clock, "rpm").await?;
        }
        if let Some(tpm) = &self.tpm {
            tpm.take(pending.charge, deadline, &self.clock, "tpm")
                .await?;
        }
        Ok(())
    }

    /// Correct a charge of `charged` tokens with the `actual` usage: the difference is
    /// added to (or taken off) the next charges.
    pub(crate) fn settle(&self, charged: u64, actual: u64) {
        let diff = i64::try_from(actual)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(charged).unwrap_or(i64::MAX));
        if diff != 0 {
            if self.tpm.is_some() {
                self.correction.fetch_add(diff, Ordering::Relaxed);
            }
            self.roll();
            if diff > 0 {
                self.tokens
                    .fetch_add(diff.unsigned_abs(), Ordering::Relaxed);
            } else {
                let _ = self
                    .tokens
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                        Some(t.saturating_sub(diff.unsigned_abs()))
                    });
            }
        }
    }

    /// The use of the current minute.
    pub(crate) fn usage(&self) -> Usage {
        self.roll();
        Usage {
            requests: self.requests.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
        }
    }

    /// `tokens` plus the pending correction (never below zero; a credit left over stays).
    fn charge_for(&self, tokens: u64) -> u64 {
        let correction = self.correction.swap(0, Ordering::Relaxed);
        let total = i64::try_from(tokens)
            .unwrap_or(i64::MAX)
            .saturating_add(correction);
        if total < 0 {
            self.correction.fetch_add(total, Ordering::Relaxed);
            0
        } else {
            total.unsigned_abs()
        }
    }

    fn count(&self, tokens: u64) {
        self.roll();
        self.requests.fetch_add(1, Ordering::Relaxed);
        if tokens > 0 {
            self.tokens.fetch_add(tokens, Ordering::Relaxed);
        }
    }

    /// Start a new minute's counts when the minute changed.
    fn roll(&self) {
        let now = self.epoch.elapsed().as_secs() / 60;
        let seen = self.minute.load(Ordering::Relaxed);
        if now != seen
            && self
                .minute
                .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.requests.store(0, Ordering::Relaxed);
            self.tokens.store(0, Ordering::Relaxed);
        }
    }
}

/// Decrements the waiter count when a queued admission ends, however it ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_one_seconds_allowance() {
        let l = Limiter::new(Limits {
            rpm: Some(120),
            tpm: None,
        });
        assert!(matches!(l.try_admit(0), Admission::Now));
        assert!(matches!(l.try_admit(0), Admission::Now));
        assert!(matches!(l.try_admit(0), Admission::Queue(_)));
        let small = Limiter::new(Limits {
            rpm: Some(10),
            tpm: None,
        });
        assert!(matches!(small.try_admit(0), Admission::Now));
        assert!(matches!(small.try_admit(0), Admission::Queue(_)));
    }

    #[test]
    fn real_usage_corrects_the_next_charge() {
        let l = Limiter::new(Limits {
            rpm: None,
            tpm: Some(600_000),
        });
        l.settle(100, 250);
        assert_eq!(l.charge_for(10), 160);
        l.settle(100, 20);
        assert_eq!(l.charge_for(30), 0);
        assert_eq!(l.charge_for(100), 50);
    }
}
