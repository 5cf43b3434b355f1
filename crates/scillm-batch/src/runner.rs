//! [`BatchRunner`]: input lines in, one result line per input line out.
//!
//! A reader task (the `input` module) streams the input (memory depends on the
//! concurrency, not on the number of lines); each line runs as its own task (parsing, the call, JSON checks and the
//! result's serialisation spread over every core); one writer loop — this future —
//! makes results durable, orders them and reports progress.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures::FutureExt;
use scillm_core::{ErrorKind, ProviderError};
use scillm_router::{ErrorType, RequestItem, Router, RouterResult, RunSettings};
use tokio::io::AsyncBufRead;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::BatchError;
use crate::format::{JsonlFormat, LineFormat, ParsedLine};
use crate::input::{count_lines, read_lines};
use crate::line::{ItemStats, LineDefaults};
use crate::options::{BatchOptions, Output};
use crate::progress::{Progress, ProgressFn};
use crate::sink::Sink;
use crate::summary::Summary;

/// One finished line.
struct Done {
    index: usize,
    line: Vec<u8>,
    stats: ItemStats,
}

impl Done {
    fn of<F: LineFormat>(format: &F, context: &F::Context, result: &RouterResult) -> Self {
        Self {
            index: result.meta.index,
            line: format.output(context, result),
            stats: ItemStats::of(result),
        }
    }
}

/// Runs batches through a [`Router`], reading and writing lines in the [`LineFormat`]
/// `F` (`scillm batch`'s [`JsonlFormat`] by default). Cheap to build and clone; one
/// runner can run many batches.
pub struct BatchRunner<F: LineFormat = JsonlFormat> {
    router: Router,
    options: BatchOptions,
    format: Arc<F>,
    progress: Option<ProgressFn>,
}

impl<F: LineFormat> Clone for BatchRunner<F> {
    fn clone(&self) -> Self {
        Self {
            router: self.router.clone(),
            options: self.options.clone(),
            format: Arc::clone(&self.format),
            progress: self.progress.clone(),
        }
    }
}

impl<F: LineFormat> std::fmt::Debug for BatchRunner<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchRunner")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl BatchRunner<JsonlFormat> {
    /// A runner over `router` with `options`, in `scillm batch`'s line format (with
    /// `options.default_provider` / `default_api_base` filled into lines without them).
    pub fn new(router: Router, options: BatchOptions) -> Self {
        let format = JsonlFormat {
            defaults: LineDefaults {
                provider: options.default_provider.clone(),
                api_base: options.default_api_base.clone(),
            },
        };
        Self::with_format(router, options, format)
    }
}

impl<F: LineFormat> BatchRunner<F> {
    /// A runner over `router` with `options`, reading and writing lines as `format` does
    /// (`options.default_provider` / `default_api_base` are then `format`'s business).
    pub fn with_format(router: Router, options: BatchOptions, format: F) -> Self {
        Self {
            router,
            options,
            format: Arc::new(format),
            progress: None,
        }
    }

    /// Call `f` with a [`Progress`] snapshot each time finished results are on disk.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// The options.
    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    /// Run the JSONL file `input` (one request per line; the lines are counted first so
    /// that progress has a total) into `output`. Cancelling `cancel` stops the batch:
    /// no new line starts, lines in flight end `cancelled`, what finished is written and
    /// the summary comes back with `interrupted` set.
    ///
    /// Errors: the input cannot be read ([`BatchError::Input`]), the output or journal
    /// cannot be written ([`BatchError::Output`]), resuming without a file
    /// ([`BatchError::ResumeNeedsFile`]).
    pub async fn run_file(
        &self,
        input: &Path,
        output: Output,
        cancel: CancellationToken,
    ) -> Result<Summary, BatchError> {
        let input_err = |source| BatchError::Input {
            path: input.to_path_buf(),
            source,
        };
        let total = count_lines(input.to_path_buf()).await.map_err(input_err)?;
        let file = tokio::fs::File::open(input).await.map_err(input_err)?;
        let reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
        self.run_stream(reader, Some(total), input, output, cancel)
            .await
    }

    /// Run the JSONL stream `input` into `output`, as [`BatchRunner::run_file`] (without
    /// a known total for progress).
    pub async fn run<R>(
        &self,
        input: R,
        output: Output,
        cancel: CancellationToken,
    ) -> Result<Summary, BatchError>
    where
        R: AsyncBufRead + Unpin + Send + 'static,
    {
        self.run_stream(input, None, Path::new("-"), output, cancel)
            .await
    }

    async fn run_stream<R>(
        &self,
        input: R,
        total: Option<u64>,
        input_name: &Path,
        output: Output,
        cancel: CancellationToken,
    ) -> Result<Summary, BatchError>
    where
        R: AsyncBufRead + Unpin + Send + 'static,
    {
        let started = Instant::now();
        let o = &self.options;
        // Every item's span is a child of this one; it ends when the batch does.
        let span = tracing::info_span!(target: "scillm_batch", "batch", otel.name = "batch");
        if let Some(tp) = &o.traceparent {
            scillm_telemetry::propagation::set_parent_from_traceparent(&span, tp);
        }
        let (mut sink, kept) = Sink::open(output, o.order, o.resume, o.reorder_window)?;
        let concurrency = if o.deterministic {
            1
        } else {
            o.concurrency
                .unwrap_or(self.router.config().router.concurrency)
                .max(1)
        };
        // Cancelled by the caller's token, by fail-fast, or when this future is dropped.
        let items_cancel = cancel.child_token();
        let _cancel_on_drop = items_cancel.clone().drop_guard();
        let reason = Arc::new(OnceLock::new());
        let settings = Arc::new(RunSettings {
            timeout: o.timeout,
            deterministic: o.deterministic,
            cancel: items_cancel.clone(),
            reason: Arc::clone(&reason),
        });
        let (line_tx, mut line_rx) = mpsc::channel(concurrency.clamp(16, 1024));
        let _reader = AbortOnDrop(tokio::spawn(read_lines(input, line_tx)));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();

        let mut summary = Summary::default();
        summary.total_lines = total;
        let to_do = total
            .map(|t| t.saturating_sub(kept.keys().filter(|i| (**i as u64) < t).count() as u64));
        let kept_counts = KeptCounts {
            all: kept.len() as u64,
            errors: kept.values().filter(|t| **t != ErrorType::Ok).count() as u64,
        };
        self.report(&summary, to_do, kept_counts, started);
        let (mut lines, mut in_flight) = (0usize, 0usize);
        let (mut input_done, mut stopping, mut failed_fast) = (false, false, false);
        let mut input_error = None;
        loop {
            if in_flight == 0 && (input_done || stopping) {
                break;
            }
            let can_start = !input_done && !stopping && in_flight < concurrency && !sink.full();
            tokio::select! {
                biased;
                () = cancel.cancelled(), if !stopping => {
                    stopping = true;
                    summary.interrupted = true;
                    let _ = reason.set("cancelled: the batch was interrupted".to_string());
                    line_rx.close();
                }
                Some(done) = done_rx.recv(), if in_flight > 0 => {
                    let mut next = Some(done);
                    while let Some(done) = next {
                        in_flight -= 1;
                        if o.fail_fast && done.stats.error_type != ErrorType::Ok && !failed_fast {
                            failed_fast = true;
                            let _ = reason.set(format!(
                                "cancelled by fail_fast: line {} failed ({})",
                                done.index,
                                done.stats.error_type.as_str()
                            ));
                            items_cancel.cancel();
                        }
                        summary.add(&done.stats);
                        sink.accept(done.index, done.line)?;
                        next = done_rx.try_recv().ok();
                    }
                    sink.flush()?;
                    self.report(&summary, to_do, kept_counts, started);
                }
                msg = line_rx.recv(), if can_start => match msg {
                    None => input_done = true,
                    Some(Err(e)) => {
                        input_error = Some(e);
                        input_done = true;
                    }
                    Some(Ok((index, bytes))) => {
                        lines = index + 1;
                        if let Some(error_type) = kept.get(&index) {
                            summary.resumed += 1;
                            summary.resumed_errors += u64::from(*error_type != ErrorType::Ok);
                        } else if failed_fast {
                            let done = cancelled(&*self.format, index, &bytes, &reason);
                            summary.add(&done.stats);
                            sink.accept(index, done.line)?;
                            sink.flush()?;
                        } else {
                            in_flight += 1;
                            self.spawn_item(index, bytes, &settings, &done_tx, &span);
                        }
                    }
                },
                else => break,
            }
        }
        summary.elapsed = started.elapsed();
        summary.reorder_peak = sink.peak;
        summary.reorder_spilled = sink.spilled;
        let complete = !summary.interrupted && input_error.is_none();
        sink.finish(if complete { lines } else { usize::MAX })?;
        self.report(&summary, to_do, kept_counts, started);
        match input_error {
            Some(source) => Err(BatchError::Input {
                path: input_name.to_path_buf(),
                source,
            }),
            None => Ok(summary),
        }
    }

    /// Start line `index` as a task of its own, under the batch's `span`.
    fn spawn_item(
        &self,
        index: usize,
        bytes: Vec<u8>,
        settings: &Arc<RunSettings>,
        tx: &mpsc::UnboundedSender<Done>,
        span: &tracing::Span,
    ) {
        let router = self.router.clone();
        let format = Arc::clone(&self.format);
        let settings = Arc::clone(settings);
        let tx = tx.clone();
        let queued_at = Instant::now();
        tokio::spawn(
            async move {
                let debug = router.config().router.debug_parallel;
                // Parsed outside the unwind guard's future so a panic still has the context.
                let ParsedLine { item, context } = format.parse(index, &bytes);
                drop(bytes);
                let work = async {
                    let result = match format.admit(&item, &context, &settings.cancel).await {
                        Ok(()) => router.run_item(index, item, queued_at, &settings).await,
                        Err(e) => RouterResult::failed(index, item.model_hint().as_deref(), e),
                    };
                    if debug && !result.is_ok() {
                        log_failure(&result);
                    }
                    result
                };
                let result = AssertUnwindSafe(work)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        let e = ProviderError::new(ErrorKind::Internal, "the line's work panicked");
                        RouterResult::failed(index, None, e)
                    });
                let _ = tx.send(Done::of(&*format, &context, &result));
            }
            .instrument(span.clone()),
        );
    }

    fn report(&self, summary: &Summary, total: Option<u64>, kept: KeptCounts, started: Instant) {
        if let Some(f) = &self.progress {
            f(&Progress {
                total,
                done: summary.written(),
                ok: summary.ok(),
                errors: summary.errors(),
                resumed: summary.resumed,
                kept: kept.all,
                kept_errors: kept.errors,
                elapsed: started.elapsed(),
            });
        }
    }
}

/// Results kept from an earlier run, known when the output is opened.
#[derive(Debug, Clone, Copy)]
struct KeptCounts {
    all: u64,
    errors: u64,
}

/// The `cancelled` result of a line that fail-fast keeps from starting.
fn cancelled<F: LineFormat>(
    format: &F,
    index: usize,
    bytes: &[u8],
    reason: &OnceLock<String>,
) -> Done {
    let parsed = format.parse(index, bytes);
    let hint = match &parsed.item {
        RequestItem::Invalid(_) => None,
        item => item.model_hint(),
    };
    let text = reason.get().cloned().unwrap_or_else(|| "cancelled".into());
    let e = ProviderError::new(ErrorKind::Cancelled, text);
    Done::of(
        format,
        &parsed.context,
        &RouterResult::failed(index, hint.as_deref(), e),
    )
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn log_failure(r: &RouterResult) {
    let m = &r.meta;
    tracing::warn!(
        target: "scillm_batch",
        index = m.index,
        model = m.model.as_deref().unwrap_or(""),
        provider = m.provider.as_deref().unwrap_or(""),
        error_type = m.error_type.as_str(),
        error_kind = m.error_kind.map(|k| k.as_str()).unwrap_or(""),
        error = m.exception.as_deref().unwrap_or(""),
        "batch line failed"
    );
}
