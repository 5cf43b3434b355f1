//! `scillm auth check`: is the Codex credentials file there, and is it JSON? Only key
//! names are ever shown, never values.

use std::path::{Path, PathBuf};

/// What the credentials file looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStatus {
    /// Present and a JSON object; its top-level key names.
    Valid {
        /// Top-level keys (nested object keys as `parent.child`).
        keys: Vec<String>,
    },
    /// No such file (or unreadable).
    Missing {
        /// Why it could not be read.
        reason: String,
    },
    /// Present but not a JSON object.
    Invalid {
        /// The parse error, without the file's contents.
        reason: String,
    },
}

impl AuthStatus {
    /// The exit code of `scillm auth check`: 0 valid, 1 missing, 2 invalid.
    pub fn exit_code(&self) -> u8 {
        match self {
            AuthStatus::Valid { .. } => 0,
            AuthStatus::Missing { .. } => 1,
            AuthStatus::Invalid { .. } => 2,
        }
    }

    /// One line for people.
    pub fn describe(&self, path: &Path) -> String {
        match self {
            AuthStatus::Valid { keys } => format!(
                "{}: found, valid JSON; keys: {}",
                path.display(),
                keys.join(", ")
            ),
            AuthStatus::Missing { reason } => format!("{}: missing ({reason})", path.display()),
            AuthStatus::Invalid { reason } => {
                format!("{}: not valid JSON ({reason})", path.display())
            }
        }
    }
}

/// `explicit`, else `CODEX_AUTH_PATH` (via config), else `$HOME/.codex/auth.json`.
pub fn auth_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".codex").join("auth.json")
}

/// Read and classify the credentials file.
pub fn check_auth_file(path: &Path) -> AuthStatus {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => {
            return AuthStatus::Missing {
                reason: e.kind().to_string(),
            }
        }
    };
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(m)) => {
            let mut keys = Vec::new();
            for (k, v) in &m {
                match v {
                    serde_json::Value::Object(inner) if !inner.is_empty() => {
                        keys.extend(inner.keys().map(|ik| format!("{k}.{ik}")));
                    }
                    _ => keys.push(k.clone()),
                }
            }
            AuthStatus::Valid { keys }
        }
        Ok(_) => AuthStatus::Invalid {
            reason: "the top level is not an object".into(),
        },
        // serde_json's message names line and column, never the content.
        Err(e) => AuthStatus::Invalid {
            reason: format!("parse error at line {} column {}", e.line(), e.column()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn statuses_and_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        assert_eq!(check_auth_file(&missing).exit_code(), 1);
        let bad = dir.path().join("bad.json");
        std::fs::File::create(&bad)
            .unwrap()
            .write_all(b"{not json sk-secret")
            .unwrap();
        let s = check_auth_file(&bad);
        assert_eq!(s.exit_code(), 2);
        assert!(!s.describe(&bad).contains("sk-secret"));
        let good = dir.path().join("auth.json");
        std::fs::write(
            &good,
            r#"{"OPENAI_API_KEY":"sk-top-secret","tokens":{"id_token":"x","access_token":"y"}}"#,
        )
        .unwrap();
        let s = check_auth_file(&good);
        assert_eq!(s.exit_code(), 0);
        let line = s.describe(&good);
        assert!(
            line.contains("OPENAI_API_KEY") && line.contains("tokens.access_token"),
            "{line}"
        );
        assert!(!line.contains("sk-top-secret"));
    }
}
