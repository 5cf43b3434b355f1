//! Resource limits and a new session for a sandboxed child, applied between `fork` and
//! `exec`. This is the crate's only `unsafe` code.

#![allow(unsafe_code)]

use nix::sys::resource::{setrlimit, Resource};

/// The rlimits a sandboxed process runs under. `None` leaves a limit as inherited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// CPU seconds (`RLIMIT_CPU`): SIGXCPU, then SIGKILL at the hard limit.
    pub cpu_s: Option<u64>,
    /// Address space in bytes (`RLIMIT_AS`): allocations beyond it fail.
    pub memory_bytes: Option<u64>,
    /// Largest file the process may write, in bytes (`RLIMIT_FSIZE`).
    pub file_size_bytes: Option<u64>,
    /// Processes of the (real) user at once (`RLIMIT_NPROC`); not enforced for root.
    pub nproc: Option<u64>,
}

impl Default for Rlimits {
    fn default() -> Self {
        Self {
            cpu_s: Some(10),
            memory_bytes: Some(1024 * 1024 * 1024),
            file_size_bytes: Some(16 * 1024 * 1024),
            nproc: None,
        }
    }
}

impl Rlimits {
    /// The names of the limits that are set, for `/healthz`.
    pub fn active(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.cpu_s.is_some() {
            names.push("cpu");
        }
        if self.memory_bytes.is_some() {
            names.push("address_space");
        }
        if self.file_size_bytes.is_some() {
            names.push("file_size");
        }
        if self.nproc.is_some() {
            names.push("nproc");
        }
        names.push("no_core_dumps");
        names
    }
}

/// Make the child of `cmd` lead a new session (and so a new process group whose id is its
/// pid, with no controlling terminal) and apply `limits` to it before it execs.
pub fn apply(cmd: &mut tokio::process::Command, limits: Rlimits) {
    let hook = move || -> std::io::Result<()> {
        nix::unistd::setsid().map_err(std::io::Error::from)?;
        set(Resource::RLIMIT_CORE, Some(0))?;
        set(Resource::RLIMIT_CPU, limits.cpu_s)?;
        set(Resource::RLIMIT_AS, limits.memory_bytes)?;
        set(Resource::RLIMIT_FSIZE, limits.file_size_bytes)?;
        set(Resource::RLIMIT_NPROC, limits.nproc)?;
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
    // calls are allowed. It calls `setsid(2)` and `setrlimit(2)` (both async-signal-safe
    // system calls), copies plain integers captured by value, and allocates nothing:
    // `std::io::Error::from(Errno)` builds an `Os` error without allocating.
    unsafe {
        cmd.pre_exec(hook);
    }
}

fn set(resource: Resource, limit: Option<u64>) -> std::io::Result<()> {
    match limit {
        Some(value) => setrlimit(resource, value, value).map_err(std::io::Error::from),
        None => Ok(()),
    }
}
