//! What both backends need from a chat request, checked before any Codex work starts:
//! the credentials preflight, the program, the flattened prompt (with a non-strict schema
//! appended), `data:` images as files, the reasoning effort, a strict schema for native
//! structured output, and a slot under `MAX_CONCURRENCY`.

use std::path::PathBuf;

use scillm_core::wire::ChatRequest;
use serde_json::Value;
use tempfile::TempDir;

use super::limits::Slot;
use super::schema::OutputSchema;
use super::state::Sidecar;
use super::{images, preflight, prompt};
use scillm_serve::ApiError;

/// A request ready for a backend. The temp dir and the slot are held until it is dropped.
#[derive(Debug)]
pub struct Prepared {
    /// The resolved Codex program.
    pub program: PathBuf,
    /// The prompt (a non-strict schema already appended).
    pub prompt: String,
    /// The model without its provider prefix; empty means Codex's default.
    pub model: String,
    /// Image files in the temp dir.
    pub images: Vec<PathBuf>,
    /// `reasoning_effort` (or `reasoning.effort`).
    pub effort: Option<String>,
    /// The requested schema and how it reaches Codex.
    pub schema: Option<OutputSchema>,
    /// A file holding the strict schema (for `codex exec --output-schema`).
    pub schema_file: Option<PathBuf>,
    /// The per-request working directory (removed on drop).
    pub dir: TempDir,
    /// The concurrency slot (freed on drop).
    pub slot: Slot,
}

/// The reasoning effort of `req`: `reasoning_effort`, else `reasoning.effort`. Only a plain
/// word is accepted (it becomes a CLI override), else 400.
pub fn effort(req: &ChatRequest) -> Result<Option<String>, ApiError> {
    let raw = req
        .reasoning_effort
        .as_ref()
        .and_then(Value::as_str)
        .or_else(|| {
            req.reasoning
                .as_ref()
                .and_then(|r| r.get("effort"))
                .and_then(Value::as_str)
        });
    let Some(raw) = raw.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    if raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(Some(raw.to_string()))
    } else {
        Err(ApiError::bad_request(
            "invalid_reasoning_effort",
            format!("reasoning_effort `{raw}` is not a reasoning effort: use minimal, low, medium, high or xhigh"),
        ))
    }
}

fn internal_io(what: &str, e: std::io::Error) -> ApiError {
    ApiError::internal("tempdir_failed", format!("cannot {what}: {e}"))
}

/// Everything that can fail before Codex starts fails here, with a status.
pub async fn prepare(sidecar: &Sidecar, req: &ChatRequest) -> Result<Prepared, ApiError> {
    preflight::check(sidecar)?;
    let program = sidecar.inner.cli.resolve()?;
    let schema = OutputSchema::from_response_format(req.response_format.as_ref());
    let mut prompt = prompt::flatten(&req.messages)?;
    if let Some(s) = &schema {
        prompt.push_str(&s.prompt_suffix());
    }
    let effort = effort(req)?;
    let dir = tempfile::Builder::new()
        .prefix("scillm-codex-")
        .tempdir()
        .map_err(|e| internal_io("create a temp dir", e))?;
    let images = images::write_images(
        &req.messages,
        dir.path(),
        sidecar.config().sidecar.max_image_bytes,
    )?;
    let schema_file = match schema.as_ref().and_then(OutputSchema::native) {
        Some(s) => {
            let path = dir.path().join("output-schema.json");
            std::fs::write(&path, s.to_string())
                .map_err(|e| internal_io("write the output schema", e))?;
            Some(path)
        }
        None => None,
    };
    let slot = sidecar.inner.limiter.acquire().await?;
    Ok(Prepared {
        program,
        prompt,
        model: prompt::cli_model(&req.model).to_string(),
        images,
        effort,
        schema,
        schema_file,
        dir,
        slot,
    })
}
