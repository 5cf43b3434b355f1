//! Resource limits and the unprivileged user of a sandboxed child, applied between `fork`
//! and `exec`. This is the crate's only `unsafe` code.

#![allow(unsafe_code)]

use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};

/// The rlimits a sandboxed process runs under. `None` leaves a limit as inherited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// CPU seconds (`RLIMIT_CPU`): SIGXCPU, then SIGKILL at the hard limit.
    pub cpu_s: Option<u64>,
    /// Address space in bytes (`RLIMIT_AS`): allocations beyond it fail.
    pub memory_bytes: Option<u64>,
    /// Largest file the process may write, in bytes (`RLIMIT_FSIZE`).
    pub file_size_bytes: Option<u64>,
    /// Processes of the (real) user at once (`RLIMIT_NPROC`); not enforced for root. Under
    /// bubblewrap the limit is set inside the sandbox instead (see `Sandbox`).
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

/// An unprivileged user and group the sandbox runs as when the server is root: `nobody`
/// and `nogroup`. Root is exempt from `RLIMIT_NPROC`, so without this the process-count
/// limit would not hold.
pub const SANDBOX_UID: u32 = 65534;
/// See [`SANDBOX_UID`].
pub const SANDBOX_GID: u32 = 65534;

/// Apply `limits` to the child of `cmd` before it execs and, when `drop_to` is given, make
/// it that user and group with no supplementary groups. (The new session and process
/// group come from `process-wrap`.)
pub fn apply(cmd: &mut tokio::process::Command, limits: Rlimits, drop_to: Option<(u32, u32)>) {
    let hook = move || -> std::io::Result<()> {
        set(Resource::RLIMIT_CORE, Some(0))?;
        set(Resource::RLIMIT_CPU, limits.cpu_s)?;
        set(Resource::RLIMIT_AS, limits.memory_bytes)?;
        set(Resource::RLIMIT_FSIZE, limits.file_size_bytes)?;
        set(Resource::RLIMIT_NPROC, limits.nproc)?;
        if let Some((uid, gid)) = drop_to {
            nix::unistd::setgroups(&[]).map_err(std::io::Error::from)?;
            nix::unistd::setgid(Gid::from_raw(gid)).map_err(std::io::Error::from)?;
            nix::unistd::setuid(Uid::from_raw(uid)).map_err(std::io::Error::from)?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
    // calls are allowed. It calls `setrlimit(2)`, `setgroups(2)` with an empty list,
    // `setgid(2)` and `setuid(2)` (system calls; the child has a single thread, so no
    // cross-thread id broadcast happens), copies plain integers captured by value, and
    // allocates nothing: `std::io::Error::from(Errno)` builds an `Os` error without
    // allocating.
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
