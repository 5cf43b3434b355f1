//! Bounded parallel execution: at most `concurrency` items run at once as spawned tasks;
//! results come out as they finish, exactly one per item, whatever happens.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures::Stream;
use scillm_core::{ErrorKind, ProviderError};
use tokio::sync::mpsc;
use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::options::ParallelOptions;
use crate::request::RequestItem;
use crate::result::RouterResult;
use crate::router::Inner;
use crate::run::{run_item, RunSettings};

/// The state of one parallel run, advanced by the stream.
struct Batch {
    inner: Arc<Inner>,
    pending: std::iter::Enumerate<std::vec::IntoIter<RequestItem>>,
    running: JoinSet<(usize, RouterResult)>,
    /// Which item each task runs (for a task that panicked or was aborted).
    tasks: HashMap<Id, (usize, Option<String>)>,
    /// Results ready to hand out (items cancelled before they started).
    ready: VecDeque<(usize, RouterResult)>,
    concurrency: usize,
    fail_fast: bool,
    settings: Arc<RunSettings>,
    reason: Arc<OnceLock<String>>,
    queued_at: Instant,
}

/// Start a run of `items`; the stream yields `(index, result)` as items finish. Dropping
/// the stream aborts what is still running.
pub fn stream(
    inner: Arc<Inner>,
    items: Vec<RequestItem>,
    opts: ParallelOptions,
) -> impl Stream<Item = (usize, RouterResult)> + Send + 'static {
    let cancel = match &opts.cancel {
        Some(outer) => outer.child_token(),
        None => CancellationToken::new(),
    };
    let reason = Arc::new(OnceLock::new());
    let timeout = opts.timeout;
    let settings = Arc::new(RunSettings {
        timeout,
        deterministic: opts.deterministic,
        cancel,
        reason: Arc::clone(&reason),
    });
    let batch = Batch {
        concurrency: opts.effective_concurrency(inner.config.router.concurrency),
        inner,
        pending: items.into_iter().enumerate(),
        running: JoinSet::new(),
        tasks: HashMap::new(),
        ready: VecDeque::new(),
        fail_fast: opts.fail_fast,
        settings,
        reason,
        queued_at: Instant::now(),
    };
    // The batch is driven by a task of its own on the runtime (started on first poll),
    // next to the items' tasks; results reach the caller through a channel. Dropping the
    // stream aborts the driver, whose JoinSet then aborts the items still running.
    enum State {
        Start(Box<Batch>),
        Running(mpsc::UnboundedReceiver<(usize, RouterResult)>, AbortHandle),
    }
    futures::stream::unfold(State::Start(Box::new(batch)), |state| async move {
        let (mut rx, driver) = match state {
            State::Running(rx, driver) => (rx, driver),
            State::Start(mut batch) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let handle = tokio::spawn(async move {
                    while let Some(item) = batch.next().await {
                        if tx.send(item).is_err() {
                            break;
                        }
                    }
                });
                (rx, AbortHandle(handle.abort_handle()))
            }
        };
        let item = rx.recv().await;
        item.map(|item| (item, State::Running(rx, driver)))
    })
}

/// Aborts the driver task when the stream state holding it is dropped.
struct AbortHandle(tokio::task::AbortHandle);

impl Drop for AbortHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Batch {
    async fn next(&mut self) -> Option<(usize, RouterResult)> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            if self.settings.cancel.is_cancelled() {
                self.cancel_pending();
                if !self.ready.is_empty() {
                    continue;
                }
            }
            while self.running.len() < self.concurrency {
                let Some((index, item)) = self.pending.next() else {
                    break;
                };
                self.spawn(index, item);
            }
            let joined = self.running.join_next_with_id().await?;
            let (index, result) = match joined {
                Ok((id, done)) => {
                    self.tasks.remove(&id);
                    done
                }
                Err(e) => self.lost_task(e),
            };
            if self.fail_fast && !result.is_ok() && !self.settings.cancel.is_cancelled() {
                let _ = self.reason.set(format!(
                    "cancelled by fail_fast: item {index} failed ({})",
                    result.meta.error_type.as_str()
                ));
                self.settings.cancel.cancel();
            }
            return Some((index, result));
        }
    }

    fn spawn(&mut self, index: usize, item: RequestItem) {
        let hint = item.model_hint();
        let inner = Arc::clone(&self.inner);
        let settings = Arc::clone(&self.settings);
        let queued_at = self.queued_at;
        let handle = self.running.spawn(async move {
            let result = run_item(
                &inner.config,
                &inner.resolver,
                index,
                item,
                queued_at,
                &settings,
            )
            .await;
            if inner.config.router.debug_parallel && !result.is_ok() {
                log_failure(&result);
            }
            (index, result)
        });
        self.tasks.insert(handle.id(), (index, hint));
    }

    /// Every item not started yet gets a `cancelled` result.
    fn cancel_pending(&mut self) {
        let reason = self.reason_text();
        for (index, item) in self.pending.by_ref() {
            let err = ProviderError::new(ErrorKind::Cancelled, reason.clone());
            let r = RouterResult::failed(index, item.model_hint().as_deref(), err);
            self.ready.push_back((index, r));
        }
    }

    /// The result of a task that did not return (a panic outside the caught region, or
    /// an abort).
    fn lost_task(&mut self, e: JoinError) -> (usize, RouterResult) {
        let (index, hint) = self.tasks.remove(&e.id()).unwrap_or((usize::MAX, None));
        let err = if e.is_panic() {
            ProviderError::new(ErrorKind::Internal, "the task running this item panicked")
        } else {
            ProviderError::new(ErrorKind::Cancelled, self.reason_text())
        };
        (index, RouterResult::failed(index, hint.as_deref(), err))
    }

    fn reason_text(&self) -> String {
        self.reason
            .get()
            .cloned()
            .unwrap_or_else(|| "cancelled by the caller".to_string())
    }
}

fn log_failure(r: &RouterResult) {
    let m = &r.meta;
    tracing::warn!(
        target: "scillm_router::parallel",
        index = m.index,
        model = m.model.as_deref().unwrap_or(""),
        provider = m.provider.as_deref().unwrap_or(""),
        deployment = m.deployment.as_deref().unwrap_or(""),
        error_type = m.error_type.as_str(),
        error_kind = m.error_kind.map(|k| k.as_str()).unwrap_or(""),
        status = m.status.unwrap_or(0),
        error = m.exception.as_deref().unwrap_or(""),
        "parallel item failed"
    );
}
