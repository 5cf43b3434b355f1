//! Bounded parallel execution: at most `concurrency` items run at once, polled in place
//! by the batch (no task per item, so a finished item wakes no other thread); results
//! come out as they finish, exactly one per item, whatever happens — a panic is caught
//! in its item's slot.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, Stream, StreamExt};
use scillm_core::{ErrorKind, ProviderError};
use tokio::sync::mpsc;
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
    running: FuturesUnordered<BoxFuture<'static, (usize, RouterResult)>>,
    /// Results ready to hand out (items cancelled before they started).
    ready: VecDeque<(usize, RouterResult)>,
    concurrency: usize,
    fail_fast: bool,
    settings: Arc<RunSettings>,
    reason: Arc<OnceLock<String>>,
    queued_at: Instant,
}

/// A run of `items` polled by whoever polls the stream: `(index, result)` as items
/// finish. Dropping the stream drops (cancels) what is still running.
pub fn in_place(
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
        running: FuturesUnordered::new(),
        ready: VecDeque::new(),
        fail_fast: opts.fail_fast,
        settings,
        reason,
        queued_at: Instant::now(),
    };
    futures::stream::unfold(Box::new(batch), |mut batch| async move {
        let item = batch.next().await?;
        Some((item, batch))
    })
}

/// Start a run of `items` driven by a task of its own on the runtime (started on first
/// poll), so items progress while the caller is busy with earlier results; results reach
/// the caller through a channel. Dropping the stream aborts the driver, which drops the
/// items still running.
pub fn stream(
    inner: Arc<Inner>,
    items: Vec<RequestItem>,
    opts: ParallelOptions,
) -> impl Stream<Item = (usize, RouterResult)> + Send + 'static {
    enum State<S> {
        Start(S),
        Running(mpsc::UnboundedReceiver<(usize, RouterResult)>, AbortHandle),
    }
    let batch = Box::pin(in_place(inner, items, opts));
    futures::stream::unfold(State::Start(batch), |state| async move {
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
            let (index, result) = self.running.next().await?;
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
        let debug = self.inner.config.router.debug_parallel;
        // Built as one expression (no future bound to a local and then moved), so the
        // boxed state of an in-flight item stays small.
        let fut = AssertUnwindSafe(run_owned(inner, settings, index, item, queued_at))
            .catch_unwind()
            .map(move |caught| {
                // `run_item` catches a provider's panic itself; this catches one anywhere
                // else in the item, so the slot still gets its result.
                let result = caught.unwrap_or_else(|_| {
                    let e = ProviderError::new(ErrorKind::Internal, "the item panicked");
                    RouterResult::failed(index, hint.as_deref(), e)
                });
                if debug && !result.is_ok() {
                    log_failure(&result);
                }
                (index, result)
            });
        self.running.push(Box::pin(fut));
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

    fn reason_text(&self) -> String {
        self.reason
            .get()
            .cloned()
            .unwrap_or_else(|| "cancelled by the caller".to_string())
    }
}

/// [`run_item`] owning what it borrows, for a `'static` item future.
async fn run_owned(
    inner: Arc<Inner>,
    settings: Arc<RunSettings>,
    index: usize,
    item: RequestItem,
    queued_at: Instant,
) -> RouterResult {
    run_item(
        &inner.config,
        &inner.resolver,
        &inner.cache,
        index,
        item,
        queued_at,
        &settings,
    )
    .await
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
