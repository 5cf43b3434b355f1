//! Running one batch on the batch runner of SPEC §14 (`scillm-batch`): the input file is
//! streamed, every finished line is in the runner's journal before it counts, and a
//! resumed run ([`Resume::Unfinished`]) runs exactly the lines without a result — so a
//! batch survives a gateway restart or a kill with every `custom_id` answered once.
//!
//! - Stopping the gateway cancels the run; the batch stays active and resumes at the next
//!   start (lines cut short re-run).
//! - A user cancel or the end of the completion window stops the run; a second pass of
//!   the runner then answers every line without a result with `batch_cancelled` /
//!   `batch_expired` (N lines in, N lines out), and the batch ends `cancelled` /
//!   `expired`.
//! - At the end the runner's output (one line per input line, in input order) is split
//!   into the output file (2xx answers) and the error file.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scillm_batch::{BatchOptions, BatchRunner, Order, Output, Resume, Summary};
use scillm_core::wire::unix_now;
use scillm_router::Router;
use tokio_util::sync::CancellationToken;

use super::lines::{is_success, BatchLines, Ending, Owner};
use super::model::{BatchObject, FileObject};
use super::store::{result_file_id, Store};
use crate::access::Catalog;

/// What a running batch's task needs.
pub(super) struct Run {
    pub store: Store,
    pub router: Router,
    pub concurrency: usize,
    pub batch: Arc<Mutex<BatchObject>>,
    pub catalog: Arc<Catalog>,
    pub owner: Owner,
    /// The gateway is stopping: leave the batch to resume.
    pub shutdown: CancellationToken,
    /// Stops this batch's run (a child of `shutdown`; a user cancel cancels it).
    pub stop: CancellationToken,
}

impl Run {
    /// Run to the end, a cancel, the end of the window, or a shutdown. I/O errors are
    /// logged; the batch stays active and resumes at the next start.
    pub async fn run(self) {
        let id = self.snapshot().id;
        if let Err(e) = self.run_inner().await {
            tracing::error!(batch = %id, error = %e, "batch stopped by an error; it resumes at the next start");
        }
    }

    async fn run_inner(&self) -> Result<(), String> {
        let b = self.snapshot();
        let mut ending = if b.status == "cancelling" {
            Some(Ending::Cancelled)
        } else if expired(&b) {
            Some(Ending::Expired)
        } else {
            None
        };
        if ending.is_none() {
            let deadline = b.expires_at.map(until);
            let summary = self.pass(None, self.stop.clone(), deadline).await?;
            if summary.interrupted {
                if self.shutdown.is_cancelled() {
                    return Ok(());
                }
                ending = Some(if self.snapshot().status == "cancelling" {
                    Ending::Cancelled
                } else {
                    Ending::Expired
                });
            }
        }
        let mut status = "completed";
        if let Some(ending) = ending {
            if ending == Ending::Expired {
                self.update(|b| {
                    b.status = "finalizing".into();
                    b.finalizing_at = Some(unix_now());
                });
                self.persist().await?;
            }
            // Only a shutdown stops this pass: it answers lines, it calls nobody.
            let summary = self
                .pass(Some(ending), self.shutdown.child_token(), None)
                .await?;
            if summary.interrupted {
                return Ok(());
            }
            status = match ending {
                Ending::Cancelled => "cancelled",
                // Every line had finished after all: the batch completed.
                Ending::Expired if summary.written() == 0 => "completed",
                Ending::Expired => "expired",
            };
        }
        self.finalize(status).await
    }

    /// One run of the batch runner over the input file into the results file, resuming
    /// what is there. `deadline` cancels `stop` when it passes.
    async fn pass(
        &self,
        ending: Option<Ending>,
        stop: CancellationToken,
        deadline: Option<Duration>,
    ) -> Result<Summary, String> {
        let (id, input) = {
            let b = self.snapshot();
            (b.id.clone(), self.store.content_path(&b.input_file_id))
        };
        let options = BatchOptions {
            concurrency: Some(self.concurrency),
            order: Order::Input,
            resume: Resume::Unfinished,
            ..BatchOptions::default()
        };
        let lines = BatchLines {
            catalog: Arc::clone(&self.catalog),
            owner: self.owner.clone(),
            ending,
        };
        let batch = Arc::clone(&self.batch);
        let runner =
            BatchRunner::with_format(self.router.clone(), options, lines).on_progress(move |p| {
                if let Ok(mut b) = batch.lock() {
                    b.request_counts.completed = p.kept - p.kept_errors + p.ok;
                    b.request_counts.failed = p.kept_errors + p.errors;
                }
            });
        let output = Output::File(self.store.results_path(&id));
        let run = runner.run_file(&input, output, stop.clone());
        tokio::pin!(run);
        let result = match deadline {
            None => run.await,
            Some(d) => tokio::select! {
                r = &mut run => r,
                () = tokio::time::sleep(d) => {
                    tracing::info!(batch = %id, "the completion window ended: the batch expires");
                    stop.cancel();
                    run.await
                }
            },
        };
        result.map_err(|e| e.to_string())
    }

    /// Split the results into the output and error files and end the batch in `status`.
    async fn finalize(&self, status: &str) -> Result<(), String> {
        let (id, owner) = {
            let b = self.snapshot();
            (b.id.clone(), b.owner.clone())
        };
        if status == "completed" {
            self.update(|b| {
                b.status = "finalizing".into();
                b.finalizing_at.get_or_insert(unix_now());
            });
            self.persist().await?;
        }
        let out_id = result_file_id(&id, "output");
        let err_id = result_file_id(&id, "error");
        let results = self.store.results_path(&id);
        let (out_tmp, err_tmp) = (
            self.store.staging_path(&out_id),
            self.store.staging_path(&err_id),
        );
        let split = {
            let (r, o, e) = (results.clone(), out_tmp.clone(), err_tmp.clone());
            tokio::task::spawn_blocking(move || split(&r, &o, &e))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("cannot split {}: {e}", results.display()))?
        };
        let now = unix_now();
        let file = |fid: &str, kind: &str, bytes: u64| FileObject {
            id: fid.to_string(),
            object: "file".into(),
            bytes,
            created_at: now,
            filename: format!("{id}_{kind}.jsonl"),
            purpose: "batch_output".into(),
            status: "processed".into(),
            owner: owner.clone(),
        };
        let io = |e: std::io::Error| e.to_string();
        tokio::fs::rename(&out_tmp, self.store.content_path(&out_id))
            .await
            .map_err(io)?;
        self.store
            .put_file_object(&file(&out_id, "output", split.ok_bytes))
            .await
            .map_err(io)?;
        let error_file_id = if split.errors > 0 {
            tokio::fs::rename(&err_tmp, self.store.content_path(&err_id))
                .await
                .map_err(io)?;
            self.store
                .put_file_object(&file(&err_id, "error", split.err_bytes))
                .await
                .map_err(io)?;
            Some(err_id)
        } else {
            let _ = tokio::fs::remove_file(&err_tmp).await;
            None
        };
        self.update(|b| {
            b.output_file_id = Some(out_id);
            b.error_file_id = error_file_id;
            b.request_counts.completed = split.ok;
            b.request_counts.failed = split.errors;
            b.status = status.into();
            match status {
                "cancelled" => b.cancelled_at = Some(now),
                "expired" => b.expired_at = Some(now),
                _ => b.completed_at = Some(now),
            }
        });
        self.persist().await?;
        let _ = tokio::fs::remove_file(&results).await;
        Ok(())
    }

    fn snapshot(&self) -> BatchObject {
        match self.batch.lock() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut BatchObject)) {
        match self.batch.lock() {
            Ok(mut b) => f(&mut b),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    async fn persist(&self) -> Result<(), String> {
        self.store
            .put_batch(&self.snapshot())
            .await
            .map_err(|e| e.to_string())
    }
}

/// Whether the batch's completion window has ended.
pub(super) fn expired(b: &BatchObject) -> bool {
    b.expires_at.is_some_and(|at| until(at).is_zero())
}

/// The time from now until unix second `at` (zero when past).
fn until(at: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(at).saturating_sub(now)
}

/// Lines and bytes of each file a split wrote.
struct Split {
    ok: u64,
    ok_bytes: u64,
    errors: u64,
    err_bytes: u64,
}

/// Copy each line of `results` to `ok` (2xx answers) or `errors`, both fsynced.
fn split(results: &Path, ok: &Path, errors: &Path) -> std::io::Result<Split> {
    let input = std::io::BufReader::new(std::fs::File::open(results)?);
    let mut ok_w = std::io::BufWriter::new(std::fs::File::create(ok)?);
    let mut err_w = std::io::BufWriter::new(std::fs::File::create(errors)?);
    let mut s = Split {
        ok: 0,
        ok_bytes: 0,
        errors: 0,
        err_bytes: 0,
    };
    for line in input.split(b'\n') {
        let mut line = line?;
        if line.is_empty() {
            continue;
        }
        let len = line.len() as u64 + 1;
        let success = is_success(&line);
        line.push(b'\n');
        if success {
            ok_w.write_all(&line)?;
            s.ok += 1;
            s.ok_bytes += len;
        } else {
            err_w.write_all(&line)?;
            s.errors += 1;
            s.err_bytes += len;
        }
    }
    for w in [ok_w, err_w] {
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
    }
    Ok(s)
}
