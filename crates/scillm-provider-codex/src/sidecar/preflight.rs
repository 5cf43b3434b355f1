//! The credentials preflight: before the Codex CLI runs, its credentials file must exist
//! and be JSON, else the client gets a 401 that says what to do.

use std::path::PathBuf;

use super::state::Sidecar;
use scillm_serve::ApiError;

/// Where the credentials file is expected: `CODEX_AUTH_PATH`, else `$CODEX_HOME/auth.json`
/// when the CLI gets a `CODEX_HOME`, else `$HOME/.codex/auth.json`.
pub fn auth_path(sidecar: &Sidecar) -> PathBuf {
    if let Some(p) = &sidecar.config().sidecar.auth_path {
        return p.clone();
    }
    let cli = &sidecar.inner.cli;
    if let Some(home) = cli.env_var("CODEX_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home).join("auth.json");
    }
    let home = cli.env_var("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".codex").join("auth.json")
}

/// Whether the credentials file is present and JSON (its contents are never shown).
pub fn check(sidecar: &Sidecar) -> Result<PathBuf, ApiError> {
    let path = auth_path(sidecar);
    let problem = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_string(),
        Err(e) => format!("cannot be read ({e})"),
        Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(_) => return Ok(path),
            Err(_) => "is not valid JSON".to_string(),
        },
    };
    Err(ApiError::unauthorized(
        "codex_credentials_missing",
        format!(
            "Codex credentials not found: looked for {} and it {problem}. Mount ~/.codex/auth.json read-only into the container (e.g. -v ~/.codex/auth.json:/root/.codex/auth.json:ro) or set CODEX_AUTH_PATH to the file. CODEX_SIDECAR_ECHO=1 is for stub testing only (it answers without Codex).",
            path.display()
        ),
    ))
}

/// Whether the credentials preflight would pass.
pub fn auth_present(sidecar: &Sidecar) -> bool {
    check(sidecar).is_ok()
}
