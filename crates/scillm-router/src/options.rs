//! [`ParallelOptions`]: how a batch of requests runs.

use std::time::Duration;

use scillm_core::wire::ChatRequest;
use serde_json::{Number, Value};
use tokio_util::sync::CancellationToken;

/// Default number of requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Options of [`crate::Router::parallel`] and [`crate::Router::parallel_stream`].
///
/// Unset values come from the router's config (`router.concurrency`, `router.timeout_s`).
#[derive(Debug, Clone, Default)]
pub struct ParallelOptions {
    /// Requests in flight at once (default `router.concurrency`, itself 16 by default).
    pub concurrency: Option<usize>,
    /// Stop at the first item whose `error_type` is not `ok`: work still running is
    /// cancelled and every remaining slot gets a `cancelled` error.
    pub fail_fast: bool,
    /// Per-request timeout (default `router.timeout_s`; none when both are unset).
    pub timeout: Option<Duration>,
    /// Temperature 0, top_p 1, presence/frequency penalties 0 and concurrency 1.
    pub deterministic: bool,
    /// Cancels the whole batch from outside (e.g. on Ctrl-C): remaining slots get
    /// `cancelled` errors.
    pub cancel: Option<CancellationToken>,
}

impl ParallelOptions {
    /// Options with every value from the config.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the concurrency.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// Turn `fail_fast` on or off.
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    /// Set the per-request timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Turn deterministic mode on or off.
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = on;
        self
    }

    /// Cancel the batch when `token` is cancelled.
    pub fn cancel_with(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The concurrency to use given the configured default (at least 1; 1 when
    /// deterministic).
    pub fn effective_concurrency(&self, configured: usize) -> usize {
        if self.deterministic {
            return 1;
        }
        self.concurrency.unwrap_or(configured).max(1)
    }
}

/// Pin the sampling parameters for deterministic mode.
pub fn make_deterministic(request: &mut ChatRequest) {
    request.temperature = Some(Number::from(0));
    request.top_p = Some(Number::from(1));
    for key in ["presence_penalty", "frequency_penalty"] {
        request.extra.insert(key.into(), Value::from(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_pins_sampling_and_concurrency() {
        let opts = ParallelOptions::new().concurrency(8).deterministic(true);
        assert_eq!(opts.effective_concurrency(16), 1);
        assert_eq!(ParallelOptions::new().effective_concurrency(16), 16);
        assert_eq!(
            ParallelOptions::new()
                .concurrency(0)
                .effective_concurrency(16),
            1
        );
        let mut r = ChatRequest::new("m", vec![]);
        make_deterministic(&mut r);
        let v = r.to_value();
        assert_eq!(v["temperature"], 0);
        assert_eq!(v["top_p"], 1);
        assert_eq!(v["presence_penalty"], 0);
        assert_eq!(v["frequency_penalty"], 0);
    }
}
