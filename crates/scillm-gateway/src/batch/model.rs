//! The OpenAI Batch API's objects: files, batches, input lines and output lines
//! (<https://platform.openai.com/docs/api-reference/batch>).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only endpoint batches run (SPEC §17).
pub const CHAT_ENDPOINT: &str = "/v1/chat/completions";

/// An uploaded file (`object: "file"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileObject {
    /// `file-…`.
    pub id: String,
    /// `file`.
    pub object: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Unix seconds.
    pub created_at: u64,
    /// The uploaded name.
    pub filename: String,
    /// `batch` for inputs, `batch_output` for outputs and error files.
    pub purpose: String,
    /// `processed`.
    pub status: String,
    /// The key that uploaded it (not part of OpenAI's object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `request_counts` of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Lines in the input.
    pub total: u64,
    /// Lines answered 2xx. While the batch runs, lines whose `scillm_router.error_type`
    /// is `ok`; when it ends, exactly the lines of the output file.
    pub completed: u64,
    /// Lines that failed (the error file's lines when the batch ends, including lines an
    /// ending batch never ran).
    pub failed: u64,
}

/// A batch (`object: "batch"`), exactly the fields OpenAI's SDKs read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchObject {
    /// `batch_…`.
    pub id: String,
    /// `batch`.
    pub object: String,
    /// `/v1/chat/completions`.
    pub endpoint: String,
    /// Validation errors (`{"object":"list","data":[{code,message,line}]}`), or null.
    pub errors: Option<Value>,
    /// The input file.
    pub input_file_id: String,
    /// `24h`, the only window OpenAI accepts (its length is `[gateway]
    /// batch_completion_window_s`, 24 h by default).
    pub completion_window: String,
    /// `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`,
    /// `cancelling`, `cancelled`.
    pub status: String,
    /// The file of answered lines, when finished.
    pub output_file_id: Option<String>,
    /// The file of failed lines, when finished and some failed.
    pub error_file_id: Option<String>,
    /// Unix seconds of each transition.
    pub created_at: u64,
    /// When it started running.
    pub in_progress_at: Option<u64>,
    /// When the completion window ends: a batch not done by then ends `expired`.
    pub expires_at: Option<u64>,
    /// When output files were being written.
    pub finalizing_at: Option<u64>,
    /// When it completed.
    pub completed_at: Option<u64>,
    /// When it failed validation.
    pub failed_at: Option<u64>,
    /// When it expired.
    pub expired_at: Option<u64>,
    /// When cancel was asked.
    pub cancelling_at: Option<u64>,
    /// When it was cancelled.
    pub cancelled_at: Option<u64>,
    /// Line counts.
    pub request_counts: RequestCounts,
    /// The caller's metadata.
    pub metadata: Option<Value>,
    /// The key that created it (not part of OpenAI's object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl BatchObject {
    /// Whether the batch still has work to do (it resumes after a restart).
    pub fn is_active(&self) -> bool {
        matches!(
            self.status.as_str(),
            "validating" | "in_progress" | "finalizing" | "cancelling"
        )
    }
}

/// One input line: `{"custom_id", "method": "POST", "url": "/v1/chat/completions",
/// "body": {…}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct InputLine {
    /// The caller's id, unique within the file.
    pub custom_id: String,
    /// `POST`.
    pub method: String,
    /// `/v1/chat/completions`.
    pub url: String,
    /// The chat request.
    pub body: Value,
}
