//! Which isolation the exec tools get on this machine, decided once at start (SPEC §15):
//! bubblewrap when it works here, otherwise none — and then the tools are refused unless
//! the operator opted out with `MINI_AGENT_ALLOW_UNSANDBOXED=1`.

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Serialize;

/// How to install bubblewrap, quoted in every refusal.
pub const INSTALL_HINT: &str = "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, \
Fedora/RHEL: `dnf install bubblewrap`, Alpine: `apk add bubblewrap`, Arch: `pacman -S \
bubblewrap`) so that `bwrap` is on the server's PATH and user namespaces are allowed, then \
restart the mini-agent; or set MINI_AGENT_ALLOW_UNSANDBOXED=1 to run tools without isolation \
(they then see the network and everything the server's user may read)";

/// The isolation the exec tools run under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// bubblewrap at this path wraps every command.
    Bubblewrap(PathBuf),
    /// No bubblewrap, and the operator allowed running tools without it.
    Unsandboxed,
    /// No working bubblewrap: exec tools are refused. The reason says what failed.
    Unavailable(String),
}

impl Isolation {
    /// The `/healthz` name: `bubblewrap`, `none` (allowed without isolation) or
    /// `unavailable` (exec tools refused).
    pub fn name(&self) -> &'static str {
        match self {
            Isolation::Bubblewrap(_) => "bubblewrap",
            Isolation::Unsandboxed => "none",
            Isolation::Unavailable(_) => "unavailable",
        }
    }
}

/// Where to look for `bwrap` and what to do without it.
#[derive(Debug, Clone)]
pub struct IsolationPolicy {
    /// A `PATH`-style list searched for `bwrap` (the server's `PATH` by default).
    pub search_path: OsString,
    /// Run tools without isolation when bubblewrap does not work
    /// (`MINI_AGENT_ALLOW_UNSANDBOXED=1`).
    pub allow_unsandboxed: bool,
}

impl IsolationPolicy {
    /// Search the server's `PATH`; refuse exec tools without bubblewrap unless `allow_unsandboxed`.
    pub fn from_env(allow_unsandboxed: bool) -> Self {
        Self {
            search_path: std::env::var_os("PATH").unwrap_or_default(),
            allow_unsandboxed,
        }
    }
}

/// What `/healthz` reports about the sandbox.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Protections {
    /// `bubblewrap`, `none` or `unavailable` (see [`Isolation::name`]).
    pub isolation: &'static str,
    /// Exec tools run (false when they are refused).
    pub exec_tools_enabled: bool,
    /// No network: a new network namespace.
    pub network_isolated: bool,
    /// New PID namespace: no process outlives the tool, the server's are invisible.
    pub pid_namespace: bool,
    /// Only allowlisted system directories are visible, read-only.
    pub allowlisted_filesystem: bool,
    /// Host paths hidden explicitly (server working directory, home, config, credentials).
    pub masked_paths: Vec<String>,
    /// Processes one tool may have at once, when limited.
    pub max_processes: Option<u64>,
    /// Tools run as this unprivileged user id (when the server is root).
    pub run_as_uid: Option<u32>,
    /// The environment is cleared (no secrets from the server's environment).
    pub env_cleared: bool,
    /// A fresh temporary working directory, removed afterwards.
    pub temp_cwd: bool,
    /// The whole process group is killed at the timeout.
    pub process_group_kill: bool,
    /// The rlimits that are set.
    pub rlimits: Vec<&'static str>,
    /// The cap on each of stdout and stderr, in bytes.
    pub output_cap_bytes: usize,
    /// What is not enforced here, in words.
    pub limitations: Vec<String>,
}
