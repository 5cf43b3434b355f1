//! The OpenAI Batch API, run locally over the Router for any provider (SPEC §17):
//! `POST /v1/files` (purpose `batch`), `POST /v1/batches`, `GET /v1/batches/{id}`,
//! `POST /v1/batches/{id}/cancel`, `GET /v1/files/{id}/content`.
//!
//! State lives under `[gateway] data_dir` (layout in the `store` module); every finished request is in an
//! fsynced journal before it counts, so a batch survives a gateway restart (or a kill)
//! and resumes with exactly the requests that had not finished.

mod model;
mod routes;
mod runner;
mod store;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use scillm_core::wire::unix_now;
use scillm_core::Config;
use scillm_router::Router;
use scillm_serve::ApiError;
use serde_json::{json, Value};
use tokio::sync::{Mutex, OnceCell};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use model::{BatchObject, FileObject, InputLine, RequestCounts, CHAT_ENDPOINT};
pub use routes::routes;

use crate::error::GatewayError;
use crate::keys::ClientKey;
use runner::{refused_line, Run};
use store::{new_id, Journal, Store};

/// The Batch API's state and its running batches.
#[derive(Clone)]
pub struct BatchService {
    inner: Arc<Inner>,
}

struct Inner {
    dir: std::path::PathBuf,
    store: OnceCell<Store>,
    router: Router,
    concurrency: usize,
    shutdown: CancellationToken,
    running: std::sync::Mutex<HashMap<String, Running>>,
}

struct Running {
    batch: Arc<Mutex<BatchObject>>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for BatchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchService")
            .field("dir", &self.inner.dir)
            .field("running", &self.running())
            .finish()
    }
}

impl BatchService {
    /// The service over `[gateway] data_dir`. When the directory exists, batches a
    /// previous process left active resume now; otherwise it is created on the first
    /// upload.
    pub async fn open(config: &Config, router: Router) -> Result<Self, GatewayError> {
        let dir = config.gateway.data_dir.clone();
        let concurrency = config
            .gateway
            .batch_concurrency
            .unwrap_or(config.router.concurrency)
            .max(1);
        let service = Self {
            inner: Arc::new(Inner {
                dir: dir.clone(),
                store: OnceCell::new(),
                router,
                concurrency,
                shutdown: CancellationToken::new(),
                running: std::sync::Mutex::new(HashMap::new()),
            }),
        };
        if tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            let store = service.store().await.map_err(|e| data_dir_error(&dir, e))?;
            let active: Vec<BatchObject> = store
                .batches()
                .await
                .map_err(|e| data_dir_error(&dir, e))?
                .into_iter()
                .filter(BatchObject::is_active)
                .collect();
            for batch in active {
                tracing::info!(batch = %batch.id, status = %batch.status, "resuming batch");
                service.start(store.clone(), batch);
            }
        }
        Ok(service)
    }

    async fn store(&self) -> std::io::Result<Store> {
        self.inner
            .store
            .get_or_try_init(|| Store::open(&self.inner.dir))
            .await
            .cloned()
    }

    /// Batches running now.
    pub fn running(&self) -> usize {
        self.inner
            .running
            .lock()
            .map(|r| r.values().filter(|b| !b.task.is_finished()).count())
            .unwrap_or(0)
    }

    /// Stop every running batch without finishing it (they resume at the next start) and
    /// wait for their tasks.
    pub async fn stop(&self) {
        self.inner.shutdown.cancel();
        let tasks: Vec<JoinHandle<()>> = match self.inner.running.lock() {
            Ok(mut r) => r.drain().map(|(_, b)| b.task).collect(),
            Err(_) => Vec::new(),
        };
        for t in tasks {
            let _ = t.await;
        }
    }

    fn start(&self, store: Store, batch: BatchObject) {
        let id = batch.id.clone();
        let batch = Arc::new(Mutex::new(batch));
        let cancel = self.inner.shutdown.child_token();
        let run = Run {
            store,
            router: self.inner.router.clone(),
            concurrency: self.inner.concurrency,
            batch: Arc::clone(&batch),
            shutdown: self.inner.shutdown.clone(),
            cancel: cancel.clone(),
        };
        let task = tokio::spawn(run.run());
        if let Ok(mut r) = self.inner.running.lock() {
            r.insert(
                id,
                Running {
                    batch,
                    cancel,
                    task,
                },
            );
        }
    }

    /// Store an uploaded file of `purpose` `batch`.
    pub async fn upload(
        &self,
        owner: Option<&ClientKey>,
        filename: String,
        purpose: &str,
        content: &[u8],
    ) -> Result<FileObject, ApiError> {
        if purpose != "batch" {
            return Err(ApiError::bad_request(
                "invalid_purpose",
                format!("purpose `{purpose}` is not supported here: use \"batch\""),
            ));
        }
        let file = FileObject {
            id: new_id("file-"),
            object: "file".into(),
            bytes: content.len() as u64,
            created_at: unix_now(),
            filename,
            purpose: purpose.into(),
            status: "processed".into(),
            owner: owner.map(|k| k.name.clone()),
        };
        let store = self.store().await.map_err(io_error)?;
        store.put_file(&file, content).await.map_err(io_error)?;
        Ok(file)
    }

    /// A file the caller may see (404 otherwise).
    pub async fn file(&self, owner: Option<&ClientKey>, id: &str) -> Result<FileObject, ApiError> {
        let store = self.store().await.map_err(io_error)?;
        match store.file(id).await.map_err(io_error)? {
            Some(f) if visible(f.owner.as_deref(), owner) => Ok(f),
            _ => Err(ApiError::not_found(
                "file_not_found",
                format!("no file `{id}`"),
            )),
        }
    }

    /// A file's content.
    pub async fn file_content(
        &self,
        owner: Option<&ClientKey>,
        id: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let file = self.file(owner, id).await?;
        let store = self.store().await.map_err(io_error)?;
        tokio::fs::read(store.content_path(&file.id))
            .await
            .map_err(io_error)
    }

    /// Create and start a batch over `input_file_id`. The file is checked first: every
    /// line a JSON object with a unique string `custom_id`, `method` `POST`, `url`
    /// `/v1/chat/completions` and an object `body` (400 naming the first bad lines
    /// otherwise). Lines whose model is not served or not allowed to the key are answered
    /// at once as failed lines (404 / 403); the others run through the Router.
    pub async fn create(
        &self,
        owner: Option<&ClientKey>,
        allowed: &(dyn Fn(&str) -> Result<(), ApiError> + Sync),
        request: CreateBatch,
    ) -> Result<BatchObject, ApiError> {
        if request.endpoint != CHAT_ENDPOINT {
            return Err(ApiError::bad_request(
                "invalid_endpoint",
                format!(
                    "endpoint `{}` is not supported: batches run {CHAT_ENDPOINT}",
                    request.endpoint
                ),
            ));
        }
        let file = self.file(owner, &request.input_file_id).await?;
        if file.purpose != "batch" {
            return Err(ApiError::bad_request(
                "invalid_input_file",
                format!(
                    "file `{}` has purpose `{}`: upload the input with purpose \"batch\"",
                    file.id, file.purpose
                ),
            ));
        }
        let store = self.store().await.map_err(io_error)?;
        let text = tokio::fs::read_to_string(store.content_path(&file.id))
            .await
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_input_file",
                    format!("the input file is not UTF-8 text: {e}"),
                )
            })?;
        let lines = check_lines(&text)?;
        let mut batch = BatchObject {
            id: new_id("batch_"),
            object: "batch".into(),
            endpoint: request.endpoint,
            errors: None,
            input_file_id: file.id.clone(),
            completion_window: request.completion_window,
            status: "in_progress".into(),
            output_file_id: None,
            error_file_id: None,
            created_at: unix_now(),
            in_progress_at: Some(unix_now()),
            expires_at: None,
            finalizing_at: None,
            completed_at: None,
            failed_at: None,
            expired_at: None,
            cancelling_at: None,
            cancelled_at: None,
            request_counts: RequestCounts {
                total: lines.len() as u64,
                completed: 0,
                failed: 0,
            },
            metadata: request.metadata,
            owner: owner.map(|k| k.name.clone()),
        };
        let mut journal = Journal::open(&store.journal_path(&batch.id))
            .await
            .map_err(io_error)?;
        for (index, line) in lines.iter().enumerate() {
            let model = line
                .body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Err(e) = allowed(model) {
                let out = refused_line(&line.custom_id, &e);
                journal
                    .append(&json!({"index": index, "ok": false, "line": out}))
                    .await
                    .map_err(io_error)?;
                batch.request_counts.failed += 1;
            }
        }
        store.put_batch(&batch).await.map_err(io_error)?;
        self.start(store, batch.clone());
        Ok(batch)
    }

    /// A batch the caller may see: the running copy when it runs, else the stored one.
    pub async fn get(&self, owner: Option<&ClientKey>, id: &str) -> Result<BatchObject, ApiError> {
        let live = self
            .inner
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(id).map(|b| Arc::clone(&b.batch)));
        let batch = match live {
            Some(b) => Some(b.lock().await.clone()),
            None => self
                .store()
                .await
                .map_err(io_error)?
                .batch(id)
                .await
                .map_err(io_error)?,
        };
        match batch {
            Some(b) if visible(b.owner.as_deref(), owner) => Ok(b),
            _ => Err(ApiError::not_found(
                "batch_not_found",
                format!("no batch `{id}`"),
            )),
        }
    }

    /// The caller's batches, newest first.
    pub async fn list(&self, owner: Option<&ClientKey>) -> Result<Vec<BatchObject>, ApiError> {
        let store = self.store().await.map_err(io_error)?;
        let stored = store.batches().await.map_err(io_error)?;
        let mut out = Vec::with_capacity(stored.len());
        for b in stored {
            if visible(b.owner.as_deref(), owner) {
                out.push(self.get(owner, &b.id).await?);
            }
        }
        Ok(out)
    }

    /// Cancel a batch: it becomes `cancelling`, lines in flight are cancelled, and it ends
    /// `cancelled` with the lines that finished. A finished batch is answered as it is.
    pub async fn cancel(
        &self,
        owner: Option<&ClientKey>,
        id: &str,
    ) -> Result<BatchObject, ApiError> {
        let current = self.get(owner, id).await?;
        if !current.is_active() {
            return Ok(current);
        }
        let live = self
            .inner
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(id).map(|b| (Arc::clone(&b.batch), b.cancel.clone())));
        let Some((batch, cancel)) = live else {
            return Ok(current);
        };
        let snapshot = {
            let mut b = batch.lock().await;
            if b.status == "in_progress" {
                b.status = "cancelling".into();
                b.cancelling_at = Some(unix_now());
            }
            b.clone()
        };
        let store = self.store().await.map_err(io_error)?;
        store.put_batch(&snapshot).await.map_err(io_error)?;
        cancel.cancel();
        Ok(snapshot)
    }
}

/// `POST /v1/batches`'s body.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CreateBatch {
    /// The uploaded input file.
    pub input_file_id: String,
    /// `/v1/chat/completions`.
    pub endpoint: String,
    /// Accepted as given (`24h`).
    #[serde(default = "default_window")]
    pub completion_window: String,
    /// Kept on the batch.
    #[serde(default)]
    pub metadata: Option<Value>,
}

fn default_window() -> String {
    "24h".into()
}

/// Check every line; 400 naming up to five bad lines (1-based) otherwise.
fn check_lines(text: &str) -> Result<Vec<InputLine>, ApiError> {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    for (n, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let lineno = n + 1;
        match serde_json::from_str::<InputLine>(raw) {
            Err(e) => problems.push(format!("line {lineno}: {e}")),
            Ok(line) => {
                if line.method != "POST" {
                    problems.push(format!("line {lineno}: method must be POST"));
                } else if line.url != CHAT_ENDPOINT {
                    problems.push(format!("line {lineno}: url must be {CHAT_ENDPOINT}"));
                } else if !line.body.is_object() {
                    problems.push(format!("line {lineno}: body must be an object"));
                } else if !ids.insert(line.custom_id.clone()) {
                    problems.push(format!(
                        "line {lineno}: custom_id `{}` is used twice",
                        line.custom_id
                    ));
                } else {
                    lines.push(line);
                }
            }
        }
    }
    if lines.is_empty() && problems.is_empty() {
        problems.push("the input file has no request lines".into());
    }
    if problems.is_empty() {
        return Ok(lines);
    }
    let total = problems.len();
    problems.truncate(5);
    Err(ApiError::bad_request(
        "invalid_input_file",
        format!(
            "the input file has {total} bad line(s): {}; each line must be {{\"custom_id\", \"method\": \"POST\", \"url\": \"{CHAT_ENDPOINT}\", \"body\": {{…}}}}",
            problems.join("; ")
        ),
    ))
}

/// Objects of a key are visible to that key; without keys everything is visible.
fn visible(owner: Option<&str>, caller: Option<&ClientKey>) -> bool {
    match caller {
        None => true,
        Some(k) => owner == Some(k.name.as_str()),
    }
}

fn io_error(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "batch state I/O failed");
    ApiError::internal(
        "storage_error",
        format!("the gateway's data_dir failed: {e}"),
    )
}

fn data_dir_error(dir: &std::path::Path, source: std::io::Error) -> GatewayError {
    GatewayError::DataDir {
        path: dir.display().to_string(),
        source,
    }
}
