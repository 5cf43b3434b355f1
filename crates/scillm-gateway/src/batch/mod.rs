//! The OpenAI Batch API, run locally over the Router for any provider (SPEC §17) by the
//! batch runner of SPEC §14 (`scillm-batch`): `POST /v1/files` (purpose `batch`),
//! `GET /v1/files`, `GET`/`DELETE /v1/files/{id}`, `GET /v1/files/{id}/content`,
//! `POST`/`GET /v1/batches`, `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`.
//!
//! State lives under `[gateway] data_dir` (layout in the `store` module). Each batch runs
//! on [`scillm_batch::BatchRunner`] with the Batch API's line format (the `lines`
//! module): the input is streamed, each finished request is in the runner's journal
//! before it counts, and a batch survives a gateway restart (or a kill) and resumes with
//! exactly the requests that had not finished. Lines are charged to the batch key's
//! rpm/tpm (they wait for capacity). A batch not done within its `completion_window`
//! (`24h`; its length is `[gateway] batch_completion_window_s`) ends `expired`, its
//! unfinished lines in the error file with code `batch_expired`.

mod create;
mod files;
mod lines;
mod model;
mod routes;
mod run;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use scillm_core::config::GatewayConfig;
use scillm_core::wire::unix_now;
use scillm_core::Config;
use scillm_router::Router;
use scillm_serve::ApiError;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use create::{CreateBatch, COMPLETION_WINDOW, DEFAULT_WINDOW_S};
pub use files::Staged;
pub use lines::Ending;
pub use model::{BatchObject, FileObject, InputLine, RequestCounts, CHAT_ENDPOINT};
pub use routes::routes;

use crate::access::Catalog;
use crate::error::GatewayError;
use crate::keys::ClientKey;
use lines::Owner;
use run::Run;
use store::{new_id, Store};

/// The Batch API's state and its running batches.
#[derive(Clone)]
pub struct BatchService {
    inner: Arc<Inner>,
}

struct Inner {
    dir: std::path::PathBuf,
    store: OnceCell<Store>,
    router: Router,
    catalog: Arc<Catalog>,
    keys: HashMap<String, Arc<ClientKey>>,
    concurrency: usize,
    window_s: f64,
    shutdown: CancellationToken,
    running: Mutex<HashMap<String, Running>>,
}

struct Running {
    batch: Arc<Mutex<BatchObject>>,
    stop: CancellationToken,
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
    /// The service over `[gateway] data_dir`, checking lines against `catalog` and the
    /// client keys `keys` (by name). The directory is created (when missing) and locked
    /// for this gateway now, and batches a previous process left active resume.
    ///
    /// Errors: [`GatewayError::DataDirInUse`] when another running gateway holds the
    /// directory; [`GatewayError::DataDir`] when it cannot be created, locked or read.
    pub async fn open(
        config: &Config,
        router: Router,
        catalog: Arc<Catalog>,
        keys: HashMap<String, Arc<ClientKey>>,
    ) -> Result<Self, GatewayError> {
        let g = &config.gateway;
        let dir = g.data_dir.clone();
        let window_s = g.batch_completion_window_s.unwrap_or(DEFAULT_WINDOW_S);
        if !(window_s.is_finite() && window_s > 0.0) {
            return Err(GatewayError::Config(format!(
                "batch_completion_window_s must be a positive number of seconds (got {window_s})"
            )));
        }
        let service = Self {
            inner: Arc::new(Inner {
                dir: dir.clone(),
                store: OnceCell::new(),
                router,
                catalog,
                keys,
                concurrency: g
                    .batch_concurrency
                    .unwrap_or(config.router.concurrency)
                    .max(1),
                window_s,
                shutdown: CancellationToken::new(),
                running: Mutex::new(HashMap::new()),
            }),
        };
        let store = match service.open_store().await {
            Ok(store) => store,
            // The default directory (in the working directory) may be unusable where the
            // Batch API is not wanted at all, e.g. a read-only root filesystem: serve chat,
            // and answer the Batch API with the reason, rather than refuse to start.
            Err(e)
                if !store::is_dir_in_use(&e) && g.data_dir == GatewayConfig::default().data_dir =>
            {
                tracing::warn!(
                    path = %dir.display(),
                    error = %e,
                    "the default [gateway] data_dir cannot be used; the Batch API answers 500 \
                     until it can (set [gateway] data_dir or --data-dir)"
                );
                return Ok(service);
            }
            Err(e) => return Err(data_dir_error(&dir, e)),
        };
        let stored = store.batches().await.map_err(|e| data_dir_error(&dir, e))?;
        for batch in stored.into_iter().filter(BatchObject::is_active) {
            tracing::info!(batch = %batch.id, status = %batch.status, "resuming batch");
            service.start(store.clone(), batch);
        }
        Ok(service)
    }

    /// The store, opened (and locked) on first use.
    async fn open_store(&self) -> std::io::Result<Store> {
        self.inner
            .store
            .get_or_try_init(|| Store::open(&self.inner.dir))
            .await
            .cloned()
    }

    /// [`Self::open_store`] for a request: an error names the directory.
    async fn store(&self) -> std::io::Result<Store> {
        self.open_store().await.map_err(|e| {
            if store::is_dir_in_use(&e) {
                e
            } else {
                std::io::Error::new(e.kind(), format!("{}: {e}", self.inner.dir.display()))
            }
        })
    }

    /// Batches running now.
    pub fn running(&self) -> usize {
        self.inner
            .running
            .lock()
            .map(|r| r.values().filter(|b| !b.task.is_finished()).count())
            .unwrap_or(0)
    }

    /// The id of a running batch whose input is `file_id`.
    fn running_batch_of(&self, file_id: &str) -> Option<String> {
        let running = self.inner.running.lock().ok()?;
        running
            .iter()
            .filter(|(_, r)| !r.task.is_finished())
            .find(|(_, r)| r.batch.lock().is_ok_and(|b| b.input_file_id == file_id))
            .map(|(id, _)| id.clone())
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
        let owner = match &batch.owner {
            None => Owner::Open,
            Some(name) => match self.inner.keys.get(name) {
                Some(k) => Owner::Key(Arc::clone(k)),
                None => Owner::Gone(name.clone()),
            },
        };
        let batch = Arc::new(Mutex::new(batch));
        let stop = self.inner.shutdown.child_token();
        let run = Run {
            store,
            router: self.inner.router.clone(),
            concurrency: self.inner.concurrency,
            batch: Arc::clone(&batch),
            catalog: Arc::clone(&self.inner.catalog),
            owner,
            shutdown: self.inner.shutdown.clone(),
            stop: stop.clone(),
        };
        let task = tokio::spawn(run.run());
        if let Ok(mut r) = self.inner.running.lock() {
            // Finished batches are read from the store (their last state is persisted
            // before their task ends).
            r.retain(|_, b| !b.task.is_finished());
            r.insert(id, Running { batch, stop, task });
        }
    }

    /// Create and start a batch over `request.input_file_id` (checked first: 400 for a
    /// bad endpoint, window or input line, 404 for a file the caller may not see).
    pub async fn create(
        &self,
        owner: Option<&ClientKey>,
        request: CreateBatch,
    ) -> Result<BatchObject, ApiError> {
        request.check()?;
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
        let total = create::check_input(&store.content_path(&file.id)).await?;
        let now = unix_now();
        let batch = BatchObject {
            id: new_id("batch_"),
            object: "batch".into(),
            endpoint: request.endpoint,
            errors: None,
            input_file_id: file.id.clone(),
            completion_window: request.completion_window,
            status: "in_progress".into(),
            output_file_id: None,
            error_file_id: None,
            created_at: now,
            in_progress_at: Some(now),
            expires_at: Some(now + self.inner.window_s.ceil() as u64),
            finalizing_at: None,
            completed_at: None,
            failed_at: None,
            expired_at: None,
            cancelling_at: None,
            cancelled_at: None,
            request_counts: RequestCounts {
                total,
                completed: 0,
                failed: 0,
            },
            metadata: request.metadata,
            owner: owner.map(|k| k.name.clone()),
        };
        store.put_batch(&batch).await.map_err(io_error)?;
        self.start(store, batch.clone());
        Ok(batch)
    }

    /// A batch the caller may see: the running copy when it runs, else the stored one.
    pub async fn get(&self, owner: Option<&ClientKey>, id: &str) -> Result<BatchObject, ApiError> {
        let live = self.inner.running.lock().ok().and_then(|r| {
            r.get(id)
                .and_then(|b| b.batch.lock().ok().map(|b| b.clone()))
        });
        let batch = match live {
            Some(b) => Some(b),
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

    /// Cancel a batch: it becomes `cancelling`, lines in flight are cancelled, and it
    /// ends `cancelled` with the lines that finished in the output or error file and the
    /// others in the error file (`batch_cancelled`). A finished batch is answered as is.
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
            .and_then(|r| r.get(id).map(|b| (Arc::clone(&b.batch), b.stop.clone())));
        let Some((batch, stop)) = live else {
            return Ok(current);
        };
        let snapshot = {
            let Ok(mut b) = batch.lock() else {
                return Ok(current);
            };
            if b.status == "in_progress" {
                b.status = "cancelling".into();
                b.cancelling_at = Some(unix_now());
            }
            b.clone()
        };
        let store = self.store().await.map_err(io_error)?;
        store.put_batch(&snapshot).await.map_err(io_error)?;
        stop.cancel();
        Ok(snapshot)
    }
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
    if store::is_dir_in_use(&source) {
        return GatewayError::DataDirInUse {
            path: dir.display().to_string(),
        };
    }
    GatewayError::DataDir {
        path: dir.display().to_string(),
        source,
    }
}
