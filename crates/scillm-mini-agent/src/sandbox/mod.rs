//! The sandbox the exec tools run in: a fresh temporary working directory (removed
//! afterwards), a cleared environment, a new session and process group killed as a whole
//! on timeout and reaped, rlimits, capped output and, when bubblewrap works here, a
//! read-only view of `/` with only the working directory writable, a private `/proc`,
//! and no network.

mod bwrap;
mod capture;
mod group;
mod rlimits;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::AsyncWriteExt;

pub use capture::Captured;
pub use group::group_gone;
pub use rlimits::Rlimits;

/// `PATH` inside the sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Default cap on each of stdout and stderr, in bytes.
pub const DEFAULT_OUTPUT_CAP: usize = 16 * 1024;

/// A command that could not be started in the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The working directory or an input file could not be created.
    #[error("cannot prepare the sandbox working directory: {0}")]
    Prepare(std::io::Error),
    /// The program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for the program failed.
    #[error("waiting for `{program}` failed: {source}")]
    Wait {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One command to run in the sandbox.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// A program name (looked up on [`SANDBOX_PATH`]) or an absolute path.
    pub program: String,
    /// Its arguments (passed as they are: no shell is involved).
    pub args: Vec<String>,
    /// Files written into the working directory first: (relative name, contents).
    pub files: Vec<(String, String)>,
    /// Text written to stdin (stdin is empty otherwise).
    pub stdin: Option<String>,
    /// Wall-clock limit; the whole process group is killed when it passes.
    pub timeout: Duration,
}

/// What a sandboxed command did.
#[derive(Debug, Clone, Serialize)]
pub struct ExecOutcome {
    /// The exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Captured stdout (at most the output cap).
    pub stdout: String,
    /// Captured stderr (at most the output cap).
    pub stderr: String,
    /// Whether stdout was cut at the cap.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the cap.
    pub stderr_truncated: bool,
    /// Whether it was killed at its timeout.
    pub timed_out: bool,
    /// The process group it ran in.
    #[serde(skip)]
    pub pgid: i32,
    /// Whether no process of the group was left once it ended.
    #[serde(skip)]
    pub group_gone: bool,
    /// Wall-clock time taken.
    pub duration_ms: u64,
}

impl ExecOutcome {
    /// Whether it exited with status 0 within its time.
    pub fn success(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0)
    }
}

/// Which protections the sandbox applies on this machine (reported by `/healthz`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Protections {
    /// bubblewrap wraps every command.
    pub bubblewrap: bool,
    /// No network (a fresh network namespace).
    pub network_isolated: bool,
    /// `/` is read-only; only the working directory is writable.
    pub read_only_root: bool,
    /// The server's processes are invisible (private pid namespace and `/proc`).
    pub private_proc: bool,
    /// Directories hidden behind an empty read-only tmpfs (the server's home).
    pub masked_paths: Vec<String>,
    /// The environment is cleared (no secrets from the server's environment).
    pub env_cleared: bool,
    /// A fresh temporary working directory, removed afterwards.
    pub temp_cwd: bool,
    /// The whole process group is killed at the timeout and reaped.
    pub process_group_kill: bool,
    /// The rlimits that are set.
    pub rlimits: Vec<&'static str>,
    /// The cap on each of stdout and stderr, in bytes.
    pub output_cap_bytes: usize,
    /// What is not enforced here, in words.
    pub limitations: Vec<&'static str>,
}

/// The sandbox: how exec tools run their commands.
#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: Option<PathBuf>,
    masked: Vec<PathBuf>,
    limits: Rlimits,
    output_cap: usize,
}

impl Sandbox {
    /// A sandbox using bubblewrap when it is installed and works here.
    pub async fn detect(limits: Rlimits, output_cap: usize) -> Self {
        Self {
            bwrap: bwrap::detect().await,
            masked: bwrap::default_masked(),
            limits,
            output_cap,
        }
    }

    /// A sandbox that never uses bubblewrap (rlimits, process groups and the cleared
    /// environment still apply).
    pub fn without_bwrap(limits: Rlimits, output_cap: usize) -> Self {
        Self {
            bwrap: None,
            masked: Vec::new(),
            limits,
            output_cap,
        }
    }

    /// Whether bubblewrap wraps the commands.
    pub fn uses_bwrap(&self) -> bool {
        self.bwrap.is_some()
    }

    /// The protections in force.
    pub fn protections(&self) -> Protections {
        let bwrap = self.uses_bwrap();
        let mut limitations = Vec::new();
        if !bwrap {
            limitations.push(
                "bubblewrap is not available: tools can reach the network, read and write \
                 wherever the server's user may (its home and credentials included), and read \
                 other processes' /proc entries",
            );
        }
        if self.limits.nproc.is_none() {
            limitations.push("no process-count limit (RLIMIT_NPROC is per user)");
        }
        Protections {
            bubblewrap: bwrap,
            network_isolated: bwrap,
            read_only_root: bwrap,
            private_proc: bwrap,
            masked_paths: if bwrap {
                self.masked
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect()
            } else {
                Vec::new()
            },
            env_cleared: true,
            temp_cwd: true,
            process_group_kill: true,
            rlimits: self.limits.active(),
            output_cap_bytes: self.output_cap,
            limitations,
        }
    }

    /// Run `req` in a fresh working directory, which is removed afterwards. Whatever the
    /// command leaves running in its process group is killed when it exits, and the
    /// whole group at its timeout; either way the group is reaped before this returns
    /// (`group_gone` says whether it fully was).
    pub async fn run(&self, req: ExecRequest) -> Result<ExecOutcome, SandboxError> {
        let started = Instant::now();
        // Declared before the guard, so on cancellation the group dies before the
        // directory is removed.
        let dir = tempfile::Builder::new()
            .prefix("scillm-mini-agent-")
            .tempdir()
            .map_err(SandboxError::Prepare)?;
        let cwd = dir.path().to_path_buf();
        for (name, contents) in &req.files {
            std::fs::write(cwd.join(name), contents).map_err(SandboxError::Prepare)?;
        }

        let mut cmd = match &self.bwrap {
            Some(bwrap) => {
                let mut c = tokio::process::Command::new(bwrap);
                c.args(bwrap::wrap_args(
                    &cwd,
                    &self.masked,
                    &req.program,
                    &req.args,
                ));
                c
            }
            None => {
                let mut c = tokio::process::Command::new(&req.program);
                c.args(&req.args);
                c
            }
        };
        cmd.current_dir(&cwd)
            .env_clear()
            .env("PATH", SANDBOX_PATH)
            .env("HOME", &cwd)
            .env("TMPDIR", &cwd)
            .env("LANG", "C.UTF-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(if req.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        rlimits::apply(&mut cmd, self.limits);

        let spawn_err = |source| SandboxError::Spawn {
            program: req.program.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let mut guard = child.id().and_then(group::GroupGuard::new);
        let pgid = guard.as_ref().map(|g| g.pgid()).unwrap_or(0);

        if let (Some(text), Some(mut stdin)) = (req.stdin.clone(), child.stdin.take()) {
            tokio::spawn(async move {
                // A child that exits without reading its input is not an error.
                let _ = stdin.write_all(text.as_bytes()).await;
            });
        }
        let cap = self.output_cap;
        let out = child
            .stdout
            .take()
            .map(|s| tokio::spawn(capture::read_capped(s, cap)));
        let err = child
            .stderr
            .take()
            .map(|s| tokio::spawn(capture::read_capped(s, cap)));

        let waited = tokio::time::timeout(req.timeout, child.wait()).await;
        let timed_out = waited.is_err();
        if let Some(g) = &guard {
            g.kill();
        }
        let status = match waited {
            Ok(status) => status,
            Err(_) => child.wait().await,
        }
        .map_err(|source| SandboxError::Wait {
            program: req.program.clone(),
            source,
        })?;
        let group_gone = match guard.as_mut() {
            Some(g) => g.kill_and_wait_gone().await,
            None => true,
        };
        let stdout = join_capture(out).await;
        let stderr = join_capture(err).await;
        drop(guard);
        drop(dir);

        use std::os::unix::process::ExitStatusExt;
        Ok(ExecOutcome {
            exit_code: status.code(),
            signal: status.signal(),
            stdout: stdout.text,
            stderr: stderr.text,
            stdout_truncated: stdout.truncated,
            stderr_truncated: stderr.truncated,
            timed_out,
            pgid,
            group_gone,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}

async fn join_capture(task: Option<tokio::task::JoinHandle<Captured>>) -> Captured {
    match task {
        Some(t) => t.await.unwrap_or_default(),
        None => Captured::default(),
    }
}
