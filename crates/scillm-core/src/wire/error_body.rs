//! The OpenAI error body every server here answers with.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"error":{"message":…,"type":…,"code":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inner error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// What went wrong and what to do about it.
    pub message: String,
    /// The error class, e.g. `invalid_request_error`, `authentication_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A machine-readable code (string or `null`).
    #[serde(default)]
    pub code: Option<Value>,
    /// The offending parameter; `Some(None)` is an explicit `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::double_option"
    )]
    pub param: Option<Option<String>>,
}

impl ErrorBody {
    /// An error body with `message`, `type` and a string `code`.
    pub fn new(message: impl Into<String>, kind: impl Into<String>, code: &str) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.into(),
                code: Some(Value::from(code)),
                param: None,
            },
        }
    }
}
