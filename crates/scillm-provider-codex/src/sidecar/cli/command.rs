//! `CODEX_CMD`: split into words the way a shell would (quotes and backslashes, no
//! expansion; the `shell-words` crate), and its program found on `PATH` only when a request
//! first needs it.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Split a command line into words with POSIX shell rules (quotes and backslashes, no
/// expansion), using the `shell-words` crate. An empty command is an error.
pub fn split(raw: &str) -> Result<Vec<String>, String> {
    let words = shell_words::split(raw).map_err(|e| e.to_string())?;
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

/// Find `program`: a path (with a `/`) is used as is when it is an executable file;
/// a bare name is looked up in `path_var` (a `PATH`-style list).
pub fn resolve(program: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split("codex exec --json  --sandbox read-only").unwrap(),
            ["codex", "exec", "--json", "--sandbox", "read-only"]
        );
        assert_eq!(
            split(r#"/opt/my\ cli "a b" 'c "d"' e\"f"#).unwrap(),
            ["/opt/my cli", "a b", "c \"d\"", "e\"f"]
        );
        assert_eq!(split("x ''").unwrap(), ["x", ""]);
        assert!(split("  ").is_err());
        assert!(split("a 'b").is_err());
    }

    #[test]
    fn resolves_on_path_and_by_path() {
        let sh = resolve("sh", std::env::var_os("PATH").as_deref()).unwrap();
        assert!(sh.is_absolute());
        assert_eq!(resolve(sh.to_str().unwrap(), None), Some(sh));
        assert!(resolve(
            "definitely-not-a-codex-binary",
            Some(OsStr::new("/usr/bin"))
        )
        .is_none());
        assert!(resolve("/nonexistent/codex", None).is_none());
    }
}
