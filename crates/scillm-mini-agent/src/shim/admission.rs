//! Admission control (SPEC §15): at most `MINI_AGENT_MAX_CONCURRENCY` agent runs at once,
//! at most `MINI_AGENT_MAX_QUEUE` more waiting; beyond that a 503 with `Retry-After`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use scillm_serve::ApiError;

/// Seconds a refused client is asked to wait (`Retry-After`).
pub const RETRY_AFTER_S: u64 = 2;

/// The slots and the queue.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max_concurrency: usize,
    max_queue: usize,
    /// Runs admitted (running or waiting for a slot).
    admitted: Arc<AtomicUsize>,
}

/// A run's slot; released when dropped.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _admitted: Admitted,
}

/// Counts one admitted run until dropped (also while it waits, so a client that gives up
/// while queued frees its place).
#[derive(Debug)]
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `/healthz`'s view of admission.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Runs at once at most.
    pub max_concurrency: usize,
    /// Runs waiting at most.
    pub max_queue: usize,
    /// Runs in progress.
    pub running: usize,
    /// Runs waiting for a slot.
    pub queued: usize,
}

impl Admission {
    /// `max_concurrency` slots (at least 1) and a queue of `max_queue`.
    pub fn new(max_concurrency: usize, max_queue: usize) -> Self {
        let max_concurrency = max_concurrency.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max_concurrency)),
            max_concurrency,
            max_queue,
            admitted: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Wait for a slot, or refuse at once with 503 + `Retry-After` when the queue is full.
    pub async fn admit(&self) -> Result<Slot, ApiError> {
        let limit = self.max_concurrency + self.max_queue;
        let taken = self
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        if taken.is_err() {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "overloaded",
                format!(
                    "the mini-agent is busy: {} runs in progress and {} waiting (limits \
                     MINI_AGENT_MAX_CONCURRENCY={}, MINI_AGENT_MAX_QUEUE={}); retry after \
                     {RETRY_AFTER_S} s",
                    self.max_concurrency, self.max_queue, self.max_concurrency, self.max_queue
                ),
            );
            err.retry_after_s = Some(RETRY_AFTER_S);
            return Err(err);
        }
        let admitted = Admitted(Arc::clone(&self.admitted));
        let permit = Arc::clone(&self.slots).acquire_owned().await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "shutting_down",
                "the mini-agent is shutting down",
            )
        })?;
        Ok(Slot {
            _permit: permit,
            _admitted: admitted,
        })
    }

    /// Runs in progress and waiting now.
    pub fn stats(&self) -> AdmissionStats {
        let admitted = self.admitted.load(Ordering::Acquire);
        let running = self.max_concurrency - self.slots.available_permits();
        AdmissionStats {
            max_concurrency: self.max_concurrency,
            max_queue: self.max_queue,
            running,
            queued: admitted.saturating_sub(running),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_queue_is_bounded_and_frees_places() {
        let a = Arc::new(Admission::new(1, 1));
        let first = a.admit().await.unwrap();
        let queued = tokio::spawn({
            let a = Arc::clone(&a);
            async move { a.admit().await.map(drop) }
        });
        while a.stats().queued == 0 {
            tokio::task::yield_now().await;
        }
        let refused = a.admit().await.unwrap_err();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.retry_after_s, Some(RETRY_AFTER_S));
        drop(first);
        queued.await.unwrap().unwrap();
        assert_eq!(a.stats().queued, 0);
        assert_eq!(a.stats().running, 0);
    }
}
