//! Running one `codex exec` process ([`super::super::child`]: its own process group, a
//! parent-death signal, an allowlisted environment): stdout read line by line, absolute
//! and idle timeouts, and the whole group killed and the leader reaped on every way out
//! (timeout, shutdown, a consumer that went away, or the future being dropped).

use std::ffi::OsString;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::sidecar::child::{self, Children, Spec};

/// How many bytes of stderr are kept for error messages.
pub const STDERR_TAIL_BYTES: usize = 2000;

/// Everything needed to start the CLI once.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The resolved program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Bytes written to stdin (then closed); `None` gives it no stdin.
    pub stdin: Option<Vec<u8>>,
    /// Working directory (a per-request temp dir).
    pub cwd: PathBuf,
    /// The whole environment (the server's is not inherited).
    pub env: Vec<(OsString, OsString)>,
}

/// The two time limits of a run.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Wall-clock limit for the whole run.
    pub abs: Duration,
    /// Limit on time without any output (stdout or stderr).
    pub idle: Duration,
}

/// A run that ended with the process exiting on its own.
#[derive(Debug, Clone)]
pub struct Exit {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// The last [`STDERR_TAIL_BYTES`] of stderr, trimmed.
    pub stderr_tail: String,
}

/// A run that did not end on its own. The process group is gone in every case.
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started.
    Spawn(std::io::Error),
    /// `ABS_TIMEOUT_S` ran out.
    AbsTimeout(Duration),
    /// `IDLE_TIMEOUT_S` passed without output.
    IdleTimeout(Duration),
    /// The server is shutting down, or the client went away.
    Cancelled,
}

/// Run `inv`, handing each stdout line to `on_line` as it arrives. `on_line` returning
/// `Break` (its consumer went away) kills the run like a cancellation. The child is listed
/// in `children` while it runs.
pub async fn run(
    inv: &Invocation,
    limits: Timeouts,
    cancel: &CancellationToken,
    children: &Children,
    mut on_line: impl FnMut(String) -> ControlFlow<()>,
) -> Result<Exit, RunError> {
    let spec = Spec {
        program: &inv.program,
        args: &inv.args,
        env: &inv.env,
        cwd: &inv.cwd,
        stdin: inv.stdin.is_some(),
    };
    let mut started = child::spawn(&spec, children).map_err(RunError::Spawn)?;
    if let (Some(bytes), Some(mut stdin)) = (inv.stdin.clone(), started.child.stdin().take()) {
        // A CLI that exits without reading stdin makes this fail with EPIPE: not our error.
        tokio::spawn(async move {
            let _ = stdin.write_all(&bytes).await;
            let _ = stdin.shutdown().await;
        });
    }
    let (Some(stdout), Some(mut stderr)) =
        (started.child.stdout().take(), started.child.stderr().take())
    else {
        started.kill_and_reap().await;
        return Err(RunError::Spawn(std::io::Error::other(
            "no stdout/stderr pipe",
        )));
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut err_buf = vec![0u8; 4096];
    let mut tail: Vec<u8> = Vec::new();
    let abs_deadline = Instant::now() + limits.abs;
    let mut idle_deadline = Instant::now() + limits.idle;
    let (mut out_open, mut err_open) = (true, true);
    let mut code: Option<Option<i32>> = None;

    while out_open || err_open || code.is_none() {
        tokio::select! {
            line = lines.next_line(), if out_open => match line {
                Ok(Some(line)) => {
                    idle_deadline = Instant::now() + limits.idle;
                    if on_line(line).is_break() {
                        started.kill_and_reap().await;
                        return Err(RunError::Cancelled);
                    }
                }
                _ => out_open = false,
            },
            n = stderr.read(&mut err_buf), if err_open => match n {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => {
                    idle_deadline = Instant::now() + limits.idle;
                    tail.extend_from_slice(&err_buf[..n]);
                    if tail.len() > STDERR_TAIL_BYTES * 2 {
                        tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                    }
                }
            },
            status = started.child.wait(), if code.is_none() => {
                code = Some(status.ok().and_then(|s| s.code()));
                // The leader is gone: stragglers of its group would only hold the pipes open.
                started.kill_group();
            },
            _ = sleep_until(idle_deadline) => {
                started.kill_and_reap().await;
                return Err(RunError::IdleTimeout(limits.idle));
            },
            _ = sleep_until(abs_deadline) => {
                started.kill_and_reap().await;
                return Err(RunError::AbsTimeout(limits.abs));
            },
            _ = cancel.cancelled() => {
                started.kill_and_reap().await;
                return Err(RunError::Cancelled);
            },
        }
    }
    Ok(Exit {
        code: code.flatten(),
        stderr_tail: stderr_tail(&tail),
    })
}

/// The last [`STDERR_TAIL_BYTES`] of `bytes` as trimmed text.
fn stderr_tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}
