//! A spare thread: with the default `read-only` sandbox, thread/start depends on nothing in
//! the request (the model and effort go with `turn/start`, images are absolute paths), so
//! one ephemeral thread is started ahead of the next request and `thread/start` leaves the
//! request's path. Spare threads share one empty working directory; with a writable
//! sandbox every request starts its own thread in its own directory instead.

use std::sync::{Arc, Mutex};

use tempfile::TempDir;

use super::protocol::{method, ThreadStartParams, ThreadStartResponse, ThreadUnsubscribeParams};
use super::rpc::Conn;
use super::AppServer;
use scillm_serve::ApiError;

/// The sandbox for which threads are started ahead.
pub const SPARE_SANDBOX: &str = "read-only";

/// The spare slot of one supervisor.
#[derive(Debug, Default)]
pub struct Spare {
    /// The connection it belongs to and the thread id.
    slot: Mutex<Option<(u64, String)>>,
    /// The shared working directory of spare threads.
    dir: Mutex<Option<Arc<TempDir>>>,
}

fn key(conn: &Conn) -> u64 {
    conn.id()
}

impl Spare {
    /// Take the spare thread of `conn`, if there is one (one of another, dead connection
    /// is dropped).
    pub fn take(&self, conn: &Arc<Conn>) -> Option<String> {
        let mut slot = self.slot.lock().ok()?;
        match slot.take() {
            Some((k, id)) if k == key(conn) => Some(id),
            _ => None,
        }
    }

    fn dir(&self) -> Option<Arc<TempDir>> {
        let mut d = self.dir.lock().ok()?;
        if d.is_none() {
            *d = tempfile::Builder::new()
                .prefix("scillm-codex-threads-")
                .tempdir()
                .ok()
                .map(Arc::new);
        }
        d.clone()
    }
}

/// `thread/start` for a request: ephemeral, `sandbox`, never asking for approval, in `cwd`.
pub async fn start_thread(
    app: &AppServer,
    conn: &Conn,
    sandbox: &str,
    cwd: &std::path::Path,
) -> Result<String, ApiError> {
    let params = ThreadStartParams {
        ephemeral: true,
        sandbox: sandbox.to_string(),
        approval_policy: "never".into(),
        cwd: cwd.display().to_string(),
        model: None,
    };
    let thread: ThreadStartResponse = conn.request(method::THREAD_START, &params).await?;
    if let Some(v) = thread.thread.cli_version.filter(|v| !v.is_empty()) {
        app.set_version(v);
    }
    Ok(thread.thread.id)
}

/// A thread for the next request: the spare one when there is one, else a new one in
/// `own_dir`; then a new spare is started in the background.
pub async fn thread_for_request(
    app: &AppServer,
    conn: &Arc<Conn>,
    sandbox: &str,
    own_dir: &std::path::Path,
) -> Result<String, ApiError> {
    if sandbox != SPARE_SANDBOX {
        return start_thread(app, conn, sandbox, own_dir).await;
    }
    let spare = app.spare();
    let id = match spare.take(conn) {
        Some(id) => id,
        None => match spare.dir() {
            Some(dir) => start_thread(app, conn, sandbox, dir.path()).await?,
            None => start_thread(app, conn, sandbox, own_dir).await?,
        },
    };
    let (app, conn) = (app.clone(), Arc::clone(conn));
    tokio::spawn(async move {
        let spare = app.spare();
        let Some(dir) = spare.dir() else {
            return;
        };
        let Ok(next) = start_thread(&app, &conn, SPARE_SANDBOX, dir.path()).await else {
            return;
        };
        let extra = match spare.slot.lock() {
            Ok(mut slot) if slot.is_none() => {
                *slot = Some((key(&conn), next));
                None
            }
            _ => Some(next),
        };
        if let Some(thread_id) = extra {
            let _ = conn
                .request::<serde_json::Value>(
                    method::THREAD_UNSUBSCRIBE,
                    &ThreadUnsubscribeParams { thread_id },
                )
                .await;
        }
    });
    Ok(id)
}
