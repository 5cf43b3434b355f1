//! bubblewrap (`bwrap`): detected once, then used to wrap every sandboxed command in a
//! read-only view of `/` with only the working directory writable and no network.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Find a working `bwrap`: on `PATH`, and able to create the namespaces we ask for here
/// (containers often forbid them). Runs `bwrap … true` once.
pub async fn detect() -> Option<PathBuf> {
    let path = find_on_path("bwrap")?;
    let status = tokio::process::Command::new(&path)
        .args([
            "--unshare-all",
            "--die-with-parent",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .ok()?;
    if status.success() {
        Some(path)
    } else {
        tracing::warn!(
            bwrap = %path.display(),
            "bubblewrap is installed but cannot create namespaces here; tools run without it"
        );
        None
    }
}

/// The `bwrap` arguments that run `program args…` inside the sandbox with `cwd` as the only
/// writable directory (`TMPDIR` points there too; `/dev` is a private minimal tmpfs).
/// Each of `masked` (e.g. the server's home, with its credentials) is hidden behind an
/// empty read-only tmpfs, unless `cwd` lies inside it.
pub fn wrap_args(cwd: &Path, masked: &[PathBuf], program: &str, args: &[String]) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    for m in masked.iter().filter(|m| !cwd.starts_with(m)) {
        let m = m.display().to_string();
        argv.extend([
            "--tmpfs".to_string(),
            m.clone(),
            "--remount-ro".to_string(),
            m,
        ]);
    }
    let cwd = cwd.display().to_string();
    let mut argv: Vec<String> = [
        "--unshare-all",
        "--unshare-net",
        "--die-with-parent",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(argv)
    .collect();
    argv.extend(
        ["--bind", &cwd, &cwd, "--chdir", &cwd, "--", program]
            .iter()
            .map(|s| s.to_string()),
    );
    argv.extend(args.iter().cloned());
    argv
}

/// Directories hidden from tools: the server's `$HOME` (credentials such as
/// `~/.codex/auth.json`, `~/.ssh`), when it is an existing directory other than `/`.
pub fn default_masked() -> Vec<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute() && h.is_dir() && h.parent().is_some())
        .into_iter()
        .collect()
}

/// The first executable named `name` on this process's `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
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
    fn wrapped_command_has_read_only_root_writable_cwd_and_no_network() {
        let masked = vec![PathBuf::from("/root"), PathBuf::from("/tmp")];
        let argv = wrap_args(Path::new("/tmp/x"), &masked, "python3", &["main.py".into()]);
        let joined = argv.join(" ");
        assert!(
            joined.contains("--tmpfs /root --remount-ro /root"),
            "{joined}"
        );
        assert!(
            !joined.contains("--tmpfs /tmp"),
            "cwd's parent is not masked: {joined}"
        );
        assert!(joined.contains("--ro-bind / /"), "{joined}");
        assert!(joined.contains("--bind /tmp/x /tmp/x"), "{joined}");
        assert!(joined.contains("--unshare-net"), "{joined}");
        assert!(joined.ends_with("-- python3 main.py"), "{joined}");
    }
}
