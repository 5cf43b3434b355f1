//! bubblewrap (`bwrap`): the command line that runs a tool in an allowlisted view of the
//! filesystem with new user, network, PID, IPC and UTS namespaces (SPEC §15).
//!
//! What a tool sees: `/usr` and the `/bin /sbin /lib*` links or directories read-only, a
//! few files under `/etc` a runtime needs (`/etc/ssl`, `/etc/alternatives`, the dynamic
//! loader's cache, the time zone), a private `/proc` and `/dev`, an empty private `/tmp`,
//! and its working directory, the only writable host directory. Nothing else of the host
//! exists inside: not the server's working directory, home, config or credentials file,
//! and any of those that lie under an allowlisted directory are masked as well.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Top-level directories bound read-only (or recreated as the same symlink) when present.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Files and directories under `/etc` bound read-only when present: TLS roots, the
/// alternatives links `/usr/bin` points into, the dynamic loader's configuration, the
/// time zone.
pub const ETC_ALLOWLIST: &[&str] = &[
    "/etc/ssl",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
];

/// Where `prlimit` (util-linux) is expected inside the sandbox; it sets the process-count
/// limit from inside the new user namespace, where `RLIMIT_NPROC` counts only the
/// sandbox's own processes.
pub const PRLIMIT: &str = "/usr/bin/prlimit";

/// The `bwrap` arguments that run `program args…` in the sandbox with `cwd` as its only
/// writable host directory, at most `max_processes` processes, and every path of `masked`
/// that would otherwise be visible hidden (directories behind an empty tmpfs, files behind
/// `/dev/null`).
pub fn wrap_args(
    cwd: &Path,
    masked: &[PathBuf],
    max_processes: u64,
    program: &str,
    args: &[String],
) -> Vec<OsString> {
    let mut argv: Vec<OsString> = [
        "--unshare-all",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        // The tool is PID 1 of its namespace: when it exits the kernel kills everything
        // else in the namespace before bwrap sees the exit, so nothing outlives the run.
        // (With bwrap's own init, bwrap reports the exit before that teardown ends.)
        "--as-pid-1",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
        argv.extend(items.iter().map(|i| i.as_ref().to_os_string()));
    };
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match std::fs::read_link(path) {
            Ok(target) => push(&[&"--symlink", &target, &path]),
            Err(_) if path.is_dir() => push(&[&"--ro-bind", &path, &path]),
            Err(_) => {}
        }
    }
    for entry in ETC_ALLOWLIST {
        push(&[&"--ro-bind-try", entry, entry]);
    }
    push(&[&"--proc", &"/proc", &"--dev", &"/dev", &"--tmpfs", &"/tmp"]);
    push(&[&"--bind", &cwd, &cwd]);
    for m in masked
        .iter()
        .filter(|m| is_exposed(m) && !cwd.starts_with(m))
    {
        if m.is_dir() {
            push(&[&"--tmpfs", m, &"--remount-ro", m]);
        } else {
            push(&[&"--ro-bind", &"/dev/null", m]);
        }
    }
    let nproc = format!("--nproc={max_processes}");
    push(&[&"--chdir", &cwd, &"--", &PRLIMIT, &nproc, &"--", &program]);
    argv.extend(args.iter().map(OsString::from));
    argv
}

/// Whether `path` lies under something the sandbox binds from the host.
fn is_exposed(path: &Path) -> bool {
    SYSTEM_DIRS
        .iter()
        .chain(ETC_ALLOWLIST)
        .any(|root| path.starts_with(root))
}

/// Paths that must never be readable by a tool even if they lie under an allowlisted
/// directory: the server's working directory and home, and the given config and
/// credentials files.
pub fn server_paths(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    out.extend(std::env::current_dir().ok());
    out.extend(std::env::var_os("HOME").map(PathBuf::from));
    out.extend(extra.iter().cloned());
    out.retain(|p| p.is_absolute() && p.parent().is_some());
    out.sort();
    out.dedup();
    out
}

/// The first executable named `name` on `path` (a `PATH`-style list).
pub fn find_on_path(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_command_binds_only_the_allowlist_and_the_working_directory() {
        let masked = vec![PathBuf::from("/usr/share/scillm-test-mask.toml")];
        let argv = wrap_args(
            Path::new("/tmp/x"),
            &masked,
            32,
            "python3",
            &["main.py".into()],
        );
        let joined: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = joined.join(" ");
        assert!(joined.contains("--ro-bind /usr /usr"), "{joined}");
        assert!(!joined.contains("--ro-bind / /"), "{joined}");
        assert!(!joined.contains("--ro-bind /etc /etc"), "{joined}");
        assert!(joined.contains("--tmpfs /tmp"), "{joined}");
        assert!(joined.contains("--bind /tmp/x /tmp/x"), "{joined}");
        assert!(
            joined.contains("--ro-bind /dev/null /usr/share/scillm-test-mask.toml"),
            "{joined}"
        );
        for ns in ["--unshare-net", "--unshare-pid", "--unshare-ipc"] {
            assert!(joined.contains(ns), "{joined}");
        }
        assert!(
            joined.ends_with("-- /usr/bin/prlimit --nproc=32 -- python3 main.py"),
            "{joined}"
        );
    }
}
