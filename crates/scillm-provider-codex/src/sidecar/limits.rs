//! CLI slots: at most `MAX_CONCURRENCY` Codex CLI processes, a bounded wait queue, and a
//! 503 with `Retry-After` when the queue is full.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use scillm_serve::ApiError;

/// Seconds a client is asked to wait after a queue overflow.
pub const OVERLOAD_RETRY_AFTER_S: u64 = 2;

/// Hands out CLI slots.
#[derive(Debug)]
pub struct Limiter {
    slots: Arc<Semaphore>,
    max: usize,
    queue_size: usize,
    waiting: AtomicUsize,
}

/// A held CLI slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Leaves the wait queue when dropped (also when the waiting request is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Limiter {
    /// `max` slots and room for `queue_size` waiting requests.
    pub fn new(max: usize, queue_size: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            queue_size,
            waiting: AtomicUsize::new(0),
        }
    }

    /// A slot now, or after waiting in the queue; a full queue answers 503.
    pub async fn acquire(&self) -> Result<Slot, ApiError> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue_size {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::overloaded(
                format!(
                    "the sidecar is busy: {} Codex CLI runs in progress and {} waiting (MAX_CONCURRENCY, CODEX_SIDECAR_QUEUE_SIZE); retry later",
                    self.max, self.queue_size
                ),
                OVERLOAD_RETRY_AFTER_S,
            ));
        }
        let _waiting = Waiting(&self.waiting);
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("closed", "the sidecar is shutting down"))?;
        Ok(Slot { _permit: permit })
    }

    /// The configured number of slots.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Slots in use now.
    pub fn in_use(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overflow_is_503_with_retry_after() {
        let l = Limiter::new(1, 0);
        let held = l.acquire().await.unwrap();
        let err = l.acquire().await.unwrap_err();
        assert_eq!(err.status.as_u16(), 503);
        assert_eq!(err.retry_after_s, Some(OVERLOAD_RETRY_AFTER_S));
        drop(held);
        assert!(l.acquire().await.is_ok());
        assert_eq!(l.waiting(), 0);
    }
}
