//! The `app-server` backend (`CODEX_BACKEND=app-server`, the default; SPEC §12): one
//! long-lived `codex app-server` child per sidecar, JSON-RPC over its stdio, one
//! ephemeral thread and one turn per request.
//!
//! The child is started on the first request that needs it (so echo and forward mode never
//! start one) and handshaken with `initialize` + `initialized`. When it exits, its
//! in-flight requests get 502 (retriable) and the next request starts a new child after a
//! backoff of 1 s doubling to 30 s (reset by a completed turn); `/healthz` reports
//! [`AppServer::health`].

pub mod protocol;
pub mod rpc;
mod spare;
mod turn;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::child::{self, Children, Spec};
use super::cli::CliBackend;
use protocol::{method, ClientInfo, InitializeParams, InitializeResponse};
use rpc::{gone, Conn};
use scillm_serve::ApiError;

pub use turn::start;

/// First restart delay; it doubles with each consecutive failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest restart delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How much of the child's stderr is kept for error messages.
const STDERR_TAIL_BYTES: usize = 2000;

#[derive(Debug)]
struct Live {
    conn: Arc<Conn>,
    pid: Option<u32>,
    started: Instant,
}

#[derive(Debug, Default)]
struct State {
    live: Option<Live>,
    died_at: Option<Instant>,
    ever_started: bool,
}

/// The supervisor of the app-server child. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: tokio::sync::Mutex<State>,
    /// A copy of what `/healthz` shows, readable without waiting for a start in progress.
    snapshot: Mutex<Option<(Option<u32>, Instant)>>,
    restarts: AtomicU64,
    failures: AtomicU32,
    version: Mutex<Option<String>>,
    rate_limits: Arc<Mutex<Option<Value>>>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    children: Children,
    shutdown: CancellationToken,
    spare: spare::Spare,
}

/// The delay before restart number `failures` (1-based): 1 s doubling, at most 30 s.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(5);
    (FIRST_BACKOFF * 2u32.pow(exp)).min(MAX_BACKOFF)
}

impl AppServer {
    /// A supervisor whose children are listed in `children` and killed when `shutdown` is
    /// cancelled.
    pub fn new(children: Children, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: tokio::sync::Mutex::new(State::default()),
                snapshot: Mutex::new(None),
                restarts: AtomicU64::new(0),
                failures: AtomicU32::new(0),
                version: Mutex::new(None),
                rate_limits: Arc::new(Mutex::new(None)),
                stderr_tail: Arc::new(Mutex::new(Vec::new())),
                children,
                shutdown,
                spare: spare::Spare::default(),
            }),
        }
    }

    /// `{"pid","restarts","uptime_s"}` of the current child (`pid`/`uptime_s` null when
    /// none runs), for `/healthz`.
    pub fn health(&self) -> Value {
        let snap = self.inner.snapshot.lock().ok().and_then(|s| *s);
        json!({
            "pid": snap.and_then(|(pid, _)| pid),
            "restarts": self.inner.restarts.load(Ordering::Relaxed),
            "uptime_s": snap.map(|(_, t)| t.elapsed().as_secs_f64()),
        })
    }

    /// The Codex CLI version the child reported, once one has run.
    pub fn version(&self) -> Option<String> {
        self.inner.version.lock().ok().and_then(|v| v.clone())
    }

    /// The last rate-limit snapshot the CLI reported (`RateLimitSnapshot`).
    pub fn rate_limits(&self) -> Option<Value> {
        self.inner.rate_limits.lock().ok().and_then(|r| r.clone())
    }

    /// Seconds until the first window at 100 % used resets, when one is (SPEC §12 "Quota").
    pub fn quota_exhausted_for(&self) -> Option<u64> {
        let limits = self.rate_limits()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        ["primary", "secondary"]
            .iter()
            .filter_map(|k| limits.get(*k))
            .filter_map(|w| serde_json::from_value::<protocol::RateLimitWindow>(w.clone()).ok())
            .filter(|w| w.used_percent >= 100)
            .filter_map(|w| w.resets_at)
            .filter(|reset| *reset > now)
            .map(|reset| (reset - now) as u64)
            .max()
    }

    /// The spare-thread slot.
    fn spare(&self) -> &spare::Spare {
        &self.inner.spare
    }

    /// A turn completed: the next failure starts the backoff from 1 s again.
    pub fn turn_succeeded(&self) {
        self.inner.failures.store(0, Ordering::Relaxed);
    }

    /// The live connection, starting (or restarting, after the backoff) the child first
    /// when there is none.
    pub async fn connection(&self, cli: &CliBackend) -> Result<Arc<Conn>, ApiError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(gone("is not started: the sidecar is shutting down"));
        }
        let mut state = self.inner.state.lock().await;
        if let Some(live) = &state.live {
            if !live.conn.closed().is_cancelled() {
                return Ok(Arc::clone(&live.conn));
            }
        }
        if state.live.take().is_some() && state.died_at.is_none() {
            state.died_at = Some(Instant::now());
        }
        if let Some(died) = state.died_at {
            let wait = backoff(self.inner.failures.load(Ordering::Relaxed).max(1));
            let until = died + wait;
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {},
                _ = self.inner.shutdown.cancelled() => {
                    return Err(gone("is not restarted: the sidecar is shutting down"));
                }
            }
        }
        if state.ever_started {
            self.inner.restarts.fetch_add(1, Ordering::Relaxed);
            scillm_telemetry::record::app_server_restart();
        }
        state.ever_started = true;
        match self.launch(cli).await {
            Ok(live) => {
                let conn = Arc::clone(&live.conn);
                if let Ok(mut s) = self.inner.snapshot.lock() {
                    *s = Some((live.pid, live.started));
                }
                state.died_at = None;
                state.live = Some(live);
                Ok(conn)
            }
            Err(e) => {
                self.inner.failures.fetch_add(1, Ordering::Relaxed);
                state.died_at = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// Start a child, watch it, and handshake.
    async fn launch(&self, cli: &CliBackend) -> Result<Live, ApiError> {
        let program = cli.resolve()?;
        let args = cli.app_server_args();
        let cwd = std::env::temp_dir();
        let spec = Spec {
            program: &program,
            args: &args,
            env: cli.env(),
            cwd: &cwd,
            stdin: true,
        };
        let mut started = child::spawn(&spec, &self.inner.children).map_err(|e| {
            ApiError::internal(
                "codex_cli_spawn_failed",
                format!(
                    "cannot start `codex app-server` (CODEX_CMD=`{}`): {e}",
                    cli.raw()
                ),
            )
        })?;
        let pid = started.pid();
        let (Some(stdin), Some(stdout), Some(mut stderr)) = (
            started.child.stdin().take(),
            started.child.stdout().take(),
            started.child.stderr().take(),
        ) else {
            started.kill_and_reap().await;
            return Err(gone("has no stdio pipes"));
        };
        let conn = Conn::new(stdin, Arc::clone(&self.inner.rate_limits));
        tokio::spawn(rpc::read_loop(Arc::clone(&conn), stdout));
        let tail = Arc::clone(&self.inner.stderr_tail);
        if let Ok(mut t) = tail.lock() {
            t.clear();
        }
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = tail.lock() {
                    t.extend_from_slice(&buf[..n]);
                    if t.len() > STDERR_TAIL_BYTES * 2 {
                        let cut = t.len() - STDERR_TAIL_BYTES;
                        t.drain(..cut);
                    }
                }
            }
        });
        tokio::spawn(self.clone().watch(started, Arc::clone(&conn)));
        let init = tokio::time::timeout(cli.timeouts().idle, self.handshake(&conn)).await;
        match init {
            Ok(Ok(())) => Ok(Live {
                conn,
                pid,
                started: Instant::now(),
            }),
            Ok(Err(e)) => {
                conn.close(e.clone());
                Err(e)
            }
            Err(_) => {
                let e = ApiError::timeout(
                    "codex_idle_timeout",
                    format!(
                        "`codex app-server` did not answer `initialize` within IDLE_TIMEOUT_S ({}s)",
                        cli.timeouts().idle.as_secs_f64()
                    ),
                );
                conn.close(e.clone());
                Err(e)
            }
        }
    }

    async fn handshake(&self, conn: &Conn) -> Result<(), ApiError> {
        let params = InitializeParams {
            client_info: ClientInfo {
                name: "scillm".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        };
        let resp: InitializeResponse = conn.request(method::INITIALIZE, &params).await?;
        if let Some(v) = protocol::version_of_user_agent(&resp.user_agent) {
            self.set_version(v);
        }
        conn.notify(method::INITIALIZED, None).await
    }

    /// Remember the CLI version (`thread.cliVersion` wins over the user agent).
    pub fn set_version(&self, v: String) {
        if let Ok(mut slot) = self.inner.version.lock() {
            *slot = Some(v);
        }
    }

    /// Own the child: kill it when the connection closes (protocol error) or the sidecar
    /// shuts down; when it exits, close the connection with its stderr tail.
    async fn watch(self, mut started: child::Started, conn: Arc<Conn>) {
        let status = tokio::select! {
            status = started.child.wait() => Some(status),
            _ = conn.closed().cancelled() => None,
            _ = self.inner.shutdown.cancelled() => None,
        };
        if status.is_none() {
            started.kill_and_reap().await;
        }
        let tail = self
            .inner
            .stderr_tail
            .lock()
            .map(|t| String::from_utf8_lossy(&t).trim().to_string())
            .unwrap_or_default();
        let how = match status {
            Some(Ok(s)) => format!("exited ({s})"),
            Some(Err(e)) => format!("could not be waited for ({e})"),
            None => "was stopped".to_string(),
        };
        let detail = if tail.is_empty() {
            how
        } else {
            let shown: String = tail
                .chars()
                .rev()
                .take(STDERR_TAIL_BYTES)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{how}; stderr: {shown}")
        };
        if !conn.closed().is_cancelled() {
            self.inner.failures.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut s) = self.inner.snapshot.lock() {
            *s = None;
        }
        conn.close(gone(&detail));
        drop(started);
    }
}
