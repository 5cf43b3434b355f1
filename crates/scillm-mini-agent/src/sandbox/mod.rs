//! The sandbox the exec tools run in (SPEC §7, §15). It fails closed: without a working
//! bubblewrap, commands are refused with an install hint unless the operator allowed
//! running them unsandboxed.
//!
//! Every command gets a fresh temporary working directory (removed afterwards), a cleared
//! environment, rlimits, capped output and its own session and process group (through
//! `process-wrap`), killed as a whole at the timeout. Under bubblewrap it also gets new
//! user, network, PID and IPC namespaces, an allowlisted read-only filesystem (see
//! [`bwrap`]), a private `/tmp`, a process-count limit and, when the server is root, an
//! unprivileged user. Because the tool is PID 2 of its own PID namespace, everything it
//! started — double-forked, `setsid` or not — dies when it exits.

pub mod bwrap;
mod capture;
mod isolation;
mod rlimits;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop, ProcessSession};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

pub use capture::Captured;
pub use isolation::{Isolation, IsolationPolicy, Protections, INSTALL_HINT};
pub use rlimits::{Rlimits, SANDBOX_GID, SANDBOX_UID};

/// `PATH` inside the sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Default cap on each of stdout and stderr, in bytes.
pub const DEFAULT_OUTPUT_CAP: usize = 16 * 1024;

/// Default number of processes (threads included) one tool may have at once.
pub const DEFAULT_MAX_PROCESSES: u64 = 64;

/// How long output is still read after the command ended and its group was killed.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// A command that could not be run in the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No working bubblewrap and running unsandboxed is not allowed (SPEC §15).
    #[error("refused: exec tools need a working bubblewrap sandbox ({reason}); {hint}", hint = INSTALL_HINT)]
    Unavailable {
        /// What failed when bubblewrap was probed.
        reason: String,
    },
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
    /// Wall-clock time taken.
    pub duration_ms: u64,
}

impl ExecOutcome {
    /// Whether it exited with status 0 within its time.
    pub fn success(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0)
    }
}

/// Everything that shapes the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// The rlimits of every command.
    pub limits: Rlimits,
    /// The cap on each of stdout and stderr, in bytes.
    pub output_cap: usize,
    /// Processes one command may have at once (under bubblewrap).
    pub max_processes: u64,
    /// Host paths to hide even when they lie under an allowlisted directory (the server's
    /// working directory, home, config and credentials files).
    pub masked: Vec<PathBuf>,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            limits: Rlimits::default(),
            output_cap: DEFAULT_OUTPUT_CAP,
            max_processes: DEFAULT_MAX_PROCESSES,
            masked: bwrap::server_paths(&[]),
        }
    }
}

/// The sandbox: how exec tools run their commands.
#[derive(Debug, Clone)]
pub struct Sandbox {
    isolation: Isolation,
    settings: SandboxSettings,
    run_as: Option<(u32, u32)>,
}

impl Sandbox {
    /// Probe bubblewrap under `policy` (one real sandboxed `true`), and decide.
    pub async fn detect(settings: SandboxSettings, policy: &IsolationPolicy) -> Self {
        let run_as = nix::unistd::geteuid()
            .is_root()
            .then_some((SANDBOX_UID, SANDBOX_GID));
        let probe = Self {
            isolation: Isolation::Unavailable(String::new()),
            settings,
            run_as,
        };
        let reason = match bwrap::find_on_path("bwrap", &policy.search_path) {
            None => "`bwrap` is not on PATH".to_string(),
            Some(path) => {
                let candidate = Self {
                    isolation: Isolation::Bubblewrap(path.clone()),
                    ..probe.clone()
                };
                match candidate.probe().await {
                    Ok(()) => return candidate,
                    Err(why) => format!("`{}` does not work here: {why}", path.display()),
                }
            }
        };
        let isolation = if policy.allow_unsandboxed {
            tracing::warn!(
                %reason,
                "MINI_AGENT_ALLOW_UNSANDBOXED=1: exec tools run WITHOUT isolation (network, \
                 the server user's files and processes are reachable)"
            );
            Isolation::Unsandboxed
        } else {
            tracing::warn!(%reason, "exec tools are disabled: {INSTALL_HINT}");
            Isolation::Unavailable(reason)
        };
        Self { isolation, ..probe }
    }

    /// A sandbox that never uses bubblewrap: tools run with rlimits, a cleared environment
    /// and process-group kill only (what `MINI_AGENT_ALLOW_UNSANDBOXED=1` gives).
    pub fn unsandboxed(settings: SandboxSettings) -> Self {
        Self {
            isolation: Isolation::Unsandboxed,
            settings,
            run_as: None,
        }
    }

    /// The isolation in force.
    pub fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    /// Whether bubblewrap wraps the commands.
    pub fn uses_bwrap(&self) -> bool {
        matches!(self.isolation, Isolation::Bubblewrap(_))
    }

    async fn probe(&self) -> Result<(), String> {
        let out = self
            .run(ExecRequest {
                program: "true".into(),
                timeout: Duration::from_secs(20),
                ..ExecRequest::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        if out.success() {
            Ok(())
        } else {
            Err(format!(
                "exit {:?}: {}",
                out.exit_code,
                out.stderr.trim().chars().take(300).collect::<String>()
            ))
        }
    }

    /// The protections in force.
    pub fn protections(&self) -> Protections {
        let bwrap = self.uses_bwrap();
        let mut limitations: Vec<String> = Vec::new();
        match &self.isolation {
            Isolation::Bubblewrap(_) => {}
            Isolation::Unsandboxed => limitations.push(
                "running WITHOUT bubblewrap (MINI_AGENT_ALLOW_UNSANDBOXED=1): tools can reach \
                 the network, read and write wherever the server's user may (its home, config \
                 and credentials included), read other processes' /proc entries, and a process \
                 that leaves its group survives the run"
                    .into(),
            ),
            Isolation::Unavailable(reason) => {
                limitations.push(format!("exec tools are refused: {reason}"))
            }
        }
        Protections {
            isolation: self.isolation.name(),
            exec_tools_enabled: !matches!(self.isolation, Isolation::Unavailable(_)),
            network_isolated: bwrap,
            pid_namespace: bwrap,
            allowlisted_filesystem: bwrap,
            masked_paths: if bwrap {
                self.settings
                    .masked
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect()
            } else {
                Vec::new()
            },
            max_processes: bwrap.then_some(self.settings.max_processes),
            run_as_uid: if bwrap {
                self.run_as.map(|(uid, _)| uid)
            } else {
                None
            },
            env_cleared: true,
            temp_cwd: true,
            process_group_kill: true,
            rlimits: self.settings.limits.active(),
            output_cap_bytes: self.settings.output_cap,
            limitations,
        }
    }

    /// Run `req` in a fresh working directory, which is removed afterwards. The command's
    /// process group is killed when it exits and, at its timeout, as a whole.
    pub async fn run(&self, req: ExecRequest) -> Result<ExecOutcome, SandboxError> {
        let started = Instant::now();
        let run_as = match &self.isolation {
            Isolation::Unavailable(reason) => {
                return Err(SandboxError::Unavailable {
                    reason: reason.clone(),
                })
            }
            Isolation::Bubblewrap(_) => self.run_as,
            Isolation::Unsandboxed => None,
        };
        let dir = tempfile::Builder::new()
            .prefix("scillm-mini-agent-")
            .tempdir()
            .map_err(SandboxError::Prepare)?;
        let cwd = dir.path().to_path_buf();
        for (name, contents) in &req.files {
            std::fs::write(cwd.join(name), contents).map_err(SandboxError::Prepare)?;
        }
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&cwd, Some(uid), Some(gid)).map_err(SandboxError::Prepare)?;
        }

        let (program, args): (OsString, Vec<OsString>) = match &self.isolation {
            Isolation::Bubblewrap(path) => (
                path.clone().into_os_string(),
                bwrap::wrap_args(
                    &cwd,
                    &self.settings.masked,
                    self.settings.max_processes,
                    &req.program,
                    &req.args,
                ),
            ),
            _ => (
                OsString::from(&req.program),
                req.args.iter().map(OsString::from).collect(),
            ),
        };
        let limits = self.settings.limits;
        let mut cmd = CommandWrap::with_new(program, |c| {
            c.args(&args)
                .current_dir(&cwd)
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
                .stderr(Stdio::piped());
            rlimits::apply(c, limits, run_as);
        });
        cmd.wrap(ProcessSession).wrap(KillOnDrop);
        let spawn_err = |source| SandboxError::Spawn {
            program: req.program.clone(),
            source,
        };
        let mut child = GroupKill(cmd.spawn().map_err(spawn_err)?, false);

        if let (Some(text), Some(mut stdin)) = (req.stdin.clone(), child.0.stdin().take()) {
            tokio::spawn(async move {
                // A child that exits without reading its input is not an error.
                let _ = stdin.write_all(text.as_bytes()).await;
            });
        }
        let cap = self.settings.output_cap;
        let read_until = tokio::time::Instant::now() + req.timeout + OUTPUT_GRACE;
        let out = child
            .0
            .stdout()
            .take()
            .map(|s| tokio::spawn(capture::read_capped(s, cap, read_until)));
        let err = child
            .0
            .stderr()
            .take()
            .map(|s| tokio::spawn(capture::read_capped(s, cap, read_until)));

        let waited = tokio::time::timeout(req.timeout, child.0.wait()).await;
        let timed_out = waited.is_err();
        // Whatever is left of the group dies now (under bubblewrap the PID namespace is
        // already gone with its first process).
        child.kill();
        let status = match waited {
            Ok(status) => status,
            Err(_) => child.0.wait().await,
        }
        .map_err(|source| SandboxError::Wait {
            program: req.program.clone(),
            source,
        })?;
        child.1 = true;
        let stdout = join_capture(out).await;
        let stderr = join_capture(err).await;
        drop(child);
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
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Kills the child's whole process group when dropped, so a cancelled run (for example
/// when the agent's time budget runs out mid-tool) never leaves processes behind.
/// Once the group has been killed after its leader was reaped, the id is not signalled
/// again (it could be reused).
struct GroupKill(Box<dyn ChildWrapper>, bool);

impl GroupKill {
    fn kill(&mut self) {
        if !self.1 {
            // ESRCH (the group is already gone) is the normal case.
            let _ = self.0.start_kill();
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn join_capture(task: Option<tokio::task::JoinHandle<Captured>>) -> Captured {
    match task {
        Some(t) => t.await.unwrap_or_default(),
        None => Captured::default(),
    }
}
