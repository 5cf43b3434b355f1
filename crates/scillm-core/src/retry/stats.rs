//! [`RetryStats`]: what a provider's retry loop did, and the slot it is reported in.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What the retry loop did, reported for successes and failures alike.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryStats {
    /// Retries done (attempts after the first).
    pub attempts: u32,
    /// Attempts that failed.
    pub failures: u32,
    /// Total time slept between attempts.
    pub total_sleep_ms: u64,
    /// The last wait hint the upstream sent ([`wait_hint`](super::wait_hint)), in seconds (may be fractional).
    pub last_retry_after_s: Option<f64>,
    /// The status of the last attempt (when it had one).
    pub final_status: Option<u16>,
    /// The status of the first failed attempt.
    pub first_failure_status: Option<u16>,
    /// The sleep before each retry, in ms.
    pub retry_sequence: Vec<u64>,
    /// Each status seen, once, in first-seen order (SPEC §13).
    pub statuses: Vec<u16>,
}

impl RetryStats {
    /// Note `status` in [`RetryStats::statuses`] unless it is already there.
    pub fn see_status(&mut self, status: u16) {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
    }
}

/// A shared slot a provider writes its [`RetryStats`] into, so a caller sees them even
/// when the call fails.
#[derive(Debug, Clone, Default)]
pub struct RetryStatsSlot(Arc<Mutex<Option<RetryStats>>>);

impl RetryStatsSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Store the stats of a finished call.
    pub fn record(&self, stats: RetryStats) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(stats);
        }
    }

    /// The stats recorded so far.
    pub fn get(&self) -> Option<RetryStats> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    /// The retries recorded so far (`None` before the first record), without copying the
    /// whole record.
    pub fn attempts(&self) -> Option<u32> {
        self.0
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|s| s.attempts))
    }
}
