//! Running one batch: the input lines the journal does not have go through
//! [`scillm_router::Router::parallel_stream`]; each finished line is appended to the
//! journal (fsynced) before it counts; at the end the output and error files are written
//! in input order from the journal.
//!
//! Stopping the gateway cancels the lines in flight without journaling them, and leaves
//! the batch `in_progress`: the next start re-runs exactly those lines. A user cancel
//! finalizes the batch as `cancelled` with the lines that finished.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use scillm_core::wire::unix_now;
use scillm_core::ErrorKind;
use scillm_router::{ParallelOptions, RequestItem, Router, RouterResult};
use scillm_serve::ApiError;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::model::{output_line, BatchObject, FileObject, InputLine};
use super::store::{new_id, read_journal, Journal, Store};

/// How often the batch object (its counts) is written while lines finish.
const PERSIST_EVERY: Duration = Duration::from_millis(500);

/// What a running batch's task needs.
pub(super) struct Run {
    pub store: Store,
    pub router: Router,
    pub concurrency: usize,
    pub batch: Arc<Mutex<BatchObject>>,
    /// The gateway is stopping: leave the batch to resume.
    pub shutdown: CancellationToken,
    /// The user cancelled the batch (a child of `shutdown`).
    pub cancel: CancellationToken,
}

impl Run {
    /// Run to the end, a cancel, or a shutdown. Errors are logged; the batch stays
    /// active and resumes at the next start.
    pub async fn run(self) {
        let id = self.batch.lock().await.id.clone();
        if let Err(e) = self.run_inner().await {
            tracing::error!(batch = %id, error = %e, "batch stopped by an I/O error; it resumes at the next start");
        }
    }

    async fn run_inner(&self) -> std::io::Result<()> {
        let (id, input_file_id, status) = {
            let b = self.batch.lock().await;
            (b.id.clone(), b.input_file_id.clone(), b.status.clone())
        };
        let journal_path = self.store.journal_path(&id);
        if status == "in_progress" {
            let lines = read_input(&self.store, &input_file_id).await?;
            let journaled = read_journal(&journal_path).await?;
            {
                // Counts restart from the journal: the stored ones may be older.
                let mut b = self.batch.lock().await;
                let ok = journaled.iter().filter(|(_, ok, _)| *ok).count() as u64;
                b.request_counts.completed = ok;
                b.request_counts.failed = journaled.len() as u64 - ok;
            }
            let done: std::collections::HashSet<usize> =
                journaled.into_iter().map(|(i, _, _)| i).collect();
            let pending: Vec<(usize, InputLine)> = lines
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !done.contains(i))
                .collect();
            self.run_lines(&journal_path, pending).await?;
            if self.shutdown.is_cancelled() {
                self.persist().await?;
                return Ok(());
            }
        }
        let cancelled = self.cancel.is_cancelled() || status == "cancelling";
        self.finalize(cancelled).await
    }

    /// Run `pending` and journal each finished line.
    async fn run_lines(
        &self,
        journal_path: &std::path::Path,
        pending: Vec<(usize, InputLine)>,
    ) -> std::io::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut journal = Journal::open(journal_path).await?;
        let items: Vec<RequestItem> = pending
            .iter()
            .map(|(_, line)| RequestItem::from(line.body.clone()))
            .collect();
        let opts = ParallelOptions::new()
            .concurrency(self.concurrency)
            .cancel_with(self.cancel.clone());
        let mut results = std::pin::pin!(self.router.parallel_stream(items, opts));
        let mut last_persist = Instant::now();
        while let Some((j, result)) = results.next().await {
            let Some((index, line)) = pending.get(j) else {
                continue;
            };
            if self.cancel.is_cancelled()
                && result
                    .error
                    .as_ref()
                    .is_some_and(|e| e.kind == ErrorKind::Cancelled)
            {
                // Never ran (or was cut short): not a result; a resume runs it again.
                continue;
            }
            let (ok, out) = to_output_line(&line.custom_id, &result);
            journal
                .append(&json!({"index": index, "ok": ok, "line": out}))
                .await?;
            {
                let mut b = self.batch.lock().await;
                if ok {
                    b.request_counts.completed += 1;
                } else {
                    b.request_counts.failed += 1;
                }
            }
            if last_persist.elapsed() >= PERSIST_EVERY {
                self.persist().await?;
                last_persist = Instant::now();
            }
        }
        Ok(())
    }

    /// Write the output and error files in input order, then mark the batch `completed`
    /// (or `cancelled`).
    async fn finalize(&self, cancelled: bool) -> std::io::Result<()> {
        let id = {
            let mut b = self.batch.lock().await;
            if !cancelled {
                b.status = "finalizing".into();
                b.finalizing_at = Some(unix_now());
            }
            b.id.clone()
        };
        self.persist().await?;
        let mut entries = read_journal(&self.store.journal_path(&id)).await?;
        entries.sort_by_key(|(i, _, _)| *i);
        let (mut output, mut errors) = (Vec::new(), Vec::new());
        let (mut completed, mut failed) = (0u64, 0u64);
        for (_, ok, line) in &entries {
            let buf = if *ok { &mut output } else { &mut errors };
            serde_json::to_writer(&mut *buf, line).map_err(std::io::Error::other)?;
            buf.push(b'\n');
            if *ok {
                completed += 1;
            } else {
                failed += 1;
            }
        }
        let owner = self.batch.lock().await.owner.clone();
        let output_file_id = self
            .put_output(&id, "output", &output, owner.clone())
            .await?;
        let error_file_id = if errors.is_empty() {
            None
        } else {
            Some(self.put_output(&id, "error", &errors, owner).await?)
        };
        {
            let mut b = self.batch.lock().await;
            b.output_file_id = Some(output_file_id);
            b.error_file_id = error_file_id;
            b.request_counts.completed = completed;
            b.request_counts.failed = failed;
            let now = unix_now();
            if cancelled {
                b.status = "cancelled".into();
                b.cancelled_at = Some(now);
            } else {
                b.status = "completed".into();
                b.completed_at = Some(now);
            }
        }
        self.persist().await
    }

    async fn put_output(
        &self,
        batch_id: &str,
        kind: &str,
        content: &[u8],
        owner: Option<String>,
    ) -> std::io::Result<String> {
        let file = FileObject {
            id: new_id("file-"),
            object: "file".into(),
            bytes: content.len() as u64,
            created_at: unix_now(),
            filename: format!("{batch_id}_{kind}.jsonl"),
            purpose: "batch_output".into(),
            status: "processed".into(),
            owner,
        };
        self.store.put_file(&file, content).await?;
        Ok(file.id)
    }

    async fn persist(&self) -> std::io::Result<()> {
        let snapshot = self.batch.lock().await.clone();
        self.store.put_batch(&snapshot).await
    }
}

/// The parsed lines of a batch's input file (checked when the batch was created).
pub(super) async fn read_input(store: &Store, file_id: &str) -> std::io::Result<Vec<InputLine>> {
    let text = tokio::fs::read_to_string(store.content_path(file_id)).await?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<InputLine>(l).map_err(std::io::Error::other))
        .collect()
}

/// The output line of a result, and whether it belongs in the output file (2xx) or the
/// error file. A failed call's body is the OpenAI error the gateway would have answered,
/// with the `scillm_router` record beside it.
fn to_output_line(custom_id: &str, result: &RouterResult) -> (bool, Value) {
    let id = new_id("batch_req_");
    match &result.error {
        None => (true, output_line(&id, custom_id, 200, result.to_value())),
        Some(e) => {
            let api = ApiError::from_upstream(e);
            let mut body = serde_json::to_value(&*api.body).unwrap_or_default();
            if let (Value::Object(map), Ok(meta)) = (&mut body, serde_json::to_value(&result.meta))
            {
                map.insert("scillm_router".into(), meta);
            }
            (
                false,
                output_line(&id, custom_id, api.status.as_u16(), body),
            )
        }
    }
}

/// The output line of an input line refused before it ran (a model the key may not use,
/// a model not served, a key the gateway does not accept).
pub(super) fn refused_line(custom_id: &str, err: &ApiError) -> Value {
    let body = serde_json::to_value(&*err.body).unwrap_or_default();
    output_line(&new_id("batch_req_"), custom_id, err.status.as_u16(), body)
}
