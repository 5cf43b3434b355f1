//! `POST /v1/batches`: the request, the completion window and the check of the input
//! file (read as a stream: memory depends on the number of `custom_id`s, not on the
//! size of the requests).

use std::collections::HashSet;
use std::path::Path;

use scillm_serve::ApiError;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use super::model::{InputLine, CHAT_ENDPOINT};

/// The only `completion_window` OpenAI accepts; its length is `[gateway]
/// batch_completion_window_s` (default [`DEFAULT_WINDOW_S`]).
pub const COMPLETION_WINDOW: &str = "24h";

/// 24 hours, in seconds.
pub const DEFAULT_WINDOW_S: f64 = 86_400.0;

/// `POST /v1/batches`'s body.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CreateBatch {
    /// The uploaded input file.
    pub input_file_id: String,
    /// `/v1/chat/completions`.
    pub endpoint: String,
    /// `24h` (the default; any other value is a 400, as at OpenAI).
    #[serde(default = "default_window")]
    pub completion_window: String,
    /// Kept on the batch.
    #[serde(default)]
    pub metadata: Option<Value>,
}

fn default_window() -> String {
    COMPLETION_WINDOW.into()
}

impl CreateBatch {
    /// Refuse an endpoint other than chat completions and a window other than `24h`.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.endpoint != CHAT_ENDPOINT {
            return Err(ApiError::bad_request(
                "invalid_endpoint",
                format!(
                    "endpoint `{}` is not supported: batches run {CHAT_ENDPOINT}",
                    self.endpoint
                ),
            ));
        }
        if self.completion_window != COMPLETION_WINDOW {
            return Err(ApiError::bad_request(
                "invalid_completion_window",
                format!(
                    "completion_window `{}` is not supported: use \"{COMPLETION_WINDOW}\" (the only window OpenAI accepts)",
                    self.completion_window
                ),
            ));
        }
        Ok(())
    }
}

/// Check every line of the input file at `path`: a JSON object with a unique string
/// `custom_id`, `method` `POST`, `url` `/v1/chat/completions` and an object `body`; no
/// empty lines. Returns the number of lines, or a 400 naming up to five bad lines
/// (1-based).
pub async fn check_input(path: &Path) -> Result<u64, ApiError> {
    let file = tokio::fs::File::open(path).await.map_err(|e| {
        ApiError::internal("storage_error", format!("cannot read the input file: {e}"))
    })?;
    let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    let (mut lineno, mut lines) = (0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).await.map_err(|e| {
            ApiError::internal("storage_error", format!("cannot read the input file: {e}"))
        })?;
        if n == 0 {
            break;
        }
        lineno += 1;
        if let Some(problem) = check_line(&buf, &mut ids) {
            problems.push(format!("line {lineno}: {problem}"));
        } else {
            lines += 1;
        }
    }
    if lineno == 0 {
        problems.push("the input file has no request lines".into());
    }
    if problems.is_empty() {
        return Ok(lines);
    }
    let total = problems.len();
    problems.truncate(5);
    Err(ApiError::bad_request(
        "invalid_input_file",
        format!(
            "the input file has {total} bad line(s): {}; each line must be {{\"custom_id\", \"method\": \"POST\", \"url\": \"{CHAT_ENDPOINT}\", \"body\": {{…}}}}",
            problems.join("; ")
        ),
    ))
}

/// What is wrong with one line (with or without its newline), if anything.
fn check_line(raw: &[u8], ids: &mut HashSet<String>) -> Option<String> {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Some("empty line: remove it (one request per line)".into());
    }
    let line = match serde_json::from_slice::<InputLine>(raw) {
        Ok(l) => l,
        Err(e) => return Some(e.to_string()),
    };
    if line.method != "POST" {
        Some("method must be POST".into())
    } else if line.url != CHAT_ENDPOINT {
        Some(format!("url must be {CHAT_ENDPOINT}"))
    } else if !line.body.is_object() {
        Some("body must be an object".into())
    } else if !ids.insert(line.custom_id.clone()) {
        Some(format!("custom_id `{}` is used twice", line.custom_id))
    } else {
        None
    }
}
