//! Waiting for capacity: admission, not rejection (SPEC §13).

use std::time::{Duration, Instant};

use crate::{Admission, RateLimit, SharedState};

/// Why [`admit`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastDeadline {
    /// How long the caller would still have had to wait (for `Retry-After`).
    pub wait: Duration,
}

/// Wait until `deployment` has capacity for one request and `tokens`, then take it.
/// Returns the time spent waiting (counted in `queue_ms`), or [`PastDeadline`] as soon as
/// the next wait would end after `deadline` — the item then ends `rate_limited`.
pub async fn admit(
    state: &dyn SharedState,
    deployment: &str,
    limit: RateLimit,
    tokens: u64,
    deadline: Option<Instant>,
) -> Result<Duration, PastDeadline> {
    let started = Instant::now();
    loop {
        match state.try_acquire(deployment, limit, tokens).await {
            Admission::Granted => return Ok(started.elapsed()),
            Admission::Wait(wait) => {
                if deadline.is_some_and(|d| Instant::now() + wait > d) {
                    return Err(PastDeadline { wait });
                }
                scillm_telemetry::record::rate_limit_wait(deployment, wait);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalState;

    #[tokio::test]
    async fn waits_for_capacity_or_gives_up_at_the_deadline() {
        let state = LocalState::new();
        // 60 rpm = 1 per second: a burst of 1, then one every second. Slow on purpose, so
        // that a loaded machine's scheduling delays (tens of ms) cannot blur the waits.
        let limit = RateLimit {
            rpm: Some(60),
            tpm: None,
        };
        let first = admit(&state, "d", limit, 0, None).await.unwrap();
        assert!(
            first < Duration::from_millis(500),
            "the burst waits: {first:?}"
        );
        let second = admit(&state, "d", limit, 0, None).await.unwrap();
        assert!(second >= Duration::from_millis(500), "{second:?}");
        let now = Instant::now();
        let refused = admit(&state, "d", limit, 0, Some(now)).await.unwrap_err();
        assert!(
            refused.wait > Duration::ZERO && refused.wait <= Duration::from_secs(1),
            "{refused:?}"
        );
    }
}
