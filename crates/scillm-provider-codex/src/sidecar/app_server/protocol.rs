//! The part of the `codex app-server` JSON-RPC protocol (v2, Codex CLI
//! [`crate::MIN_CODEX_CLI_VERSION`]) this sidecar speaks, written by hand. A test checks
//! every type and method name here against the schema the pinned CLI generates
//! (`codex app-server generate-json-schema`), so a CLI whose protocol changes fails it.
//!
//! Messages are JSON objects, one per line, without a `jsonrpc` member: requests
//! `{"id","method","params"}`, responses `{"id","result"}` or `{"id","error"}`,
//! notifications `{"method","params"}`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Client requests and notifications this sidecar sends.
pub mod method {
    /// Request: the handshake.
    pub const INITIALIZE: &str = "initialize";
    /// Notification: the handshake is done.
    pub const INITIALIZED: &str = "initialized";
    /// Request: a new thread.
    pub const THREAD_START: &str = "thread/start";
    /// Request: stop delivering a thread's events (the thread is then unloaded).
    pub const THREAD_UNSUBSCRIBE: &str = "thread/unsubscribe";
    /// Request: a turn on a thread.
    pub const TURN_START: &str = "turn/start";
    /// Request: stop a running turn.
    pub const TURN_INTERRUPT: &str = "turn/interrupt";
}

/// Server notifications this sidecar reads.
pub mod notification {
    /// An error during a turn (`willRetry` says whether Codex retries by itself).
    pub const ERROR: &str = "error";
    /// The turn ended (`turn.status`: completed, failed or interrupted).
    pub const TURN_COMPLETED: &str = "turn/completed";
    /// An item began (an `agentMessage` carries its `phase` already here).
    pub const ITEM_STARTED: &str = "item/started";
    /// An item is complete.
    pub const ITEM_COMPLETED: &str = "item/completed";
    /// Text of an agent message.
    pub const AGENT_MESSAGE_DELTA: &str = "item/agentMessage/delta";
    /// Reasoning summary text.
    pub const REASONING_SUMMARY_DELTA: &str = "item/reasoning/summaryTextDelta";
    /// Raw reasoning text.
    pub const REASONING_TEXT_DELTA: &str = "item/reasoning/textDelta";
    /// Token usage of the thread.
    pub const TOKEN_USAGE: &str = "thread/tokenUsage/updated";
    /// The account's rate-limit windows.
    pub const RATE_LIMITS: &str = "account/rateLimits/updated";
    /// Every notification this sidecar reads.
    pub const ALL: &[&str] = &[
        ERROR,
        TURN_COMPLETED,
        ITEM_STARTED,
        ITEM_COMPLETED,
        AGENT_MESSAGE_DELTA,
        REASONING_SUMMARY_DELTA,
        REASONING_TEXT_DELTA,
        TOKEN_USAGE,
        RATE_LIMITS,
    ];
}

/// `ClientInfo` of `initialize`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    /// The client's name.
    pub name: String,
    /// The client's version.
    pub version: String,
}

/// `InitializeParams`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// Who is asking.
    pub client_info: ClientInfo,
}

/// `InitializeResponse` (the fields read).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResponse {
    /// e.g. `codex_cli_rs/1.2.3 (…)`.
    pub user_agent: String,
}

/// `ThreadStartParams` (the fields sent).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadStartParams {
    /// Not written to disk.
    pub ephemeral: bool,
    /// `SandboxMode`: `read-only`, `workspace-write` or `danger-full-access`.
    pub sandbox: String,
    /// `AskForApproval`: always `never` here.
    pub approval_policy: String,
    /// The thread's working directory.
    pub cwd: String,
    /// The model, when the request names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// `Thread` (the fields read).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    /// The thread id.
    pub id: String,
    /// The version of the CLI that created it.
    #[serde(default)]
    pub cli_version: Option<String>,
}

/// `ThreadStartResponse` (the fields read).
#[derive(Debug, Clone, Deserialize)]
pub struct ThreadStartResponse {
    /// The new thread.
    pub thread: Thread,
}

/// `UserInput` (the variants sent).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum UserInput {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image file.
    LocalImage {
        /// Its path.
        path: String,
    },
}

/// `TurnStartParams` (the fields sent).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnStartParams {
    /// The thread.
    pub thread_id: String,
    /// The user's input.
    pub input: Vec<UserInput>,
    /// The model, when the request names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `ReasoningEffort`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// A strict JSON schema for the final message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
}

/// `Turn` (the fields read).
#[derive(Debug, Clone, Deserialize)]
pub struct Turn {
    /// The turn id.
    pub id: String,
    /// `TurnStatus`: `completed`, `interrupted`, `failed` or `inProgress`.
    pub status: String,
    /// `TurnError` of a failed or interrupted turn.
    #[serde(default)]
    pub error: Option<TurnError>,
}

/// `TurnError` (the fields read).
#[derive(Debug, Clone, Deserialize)]
pub struct TurnError {
    /// What went wrong.
    pub message: String,
}

/// `TurnStartResponse`.
#[derive(Debug, Clone, Deserialize)]
pub struct TurnStartResponse {
    /// The started turn.
    pub turn: Turn,
}

/// `TurnInterruptParams` (and `ThreadUnsubscribeParams` uses `threadId` alone).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnInterruptParams {
    /// The thread.
    pub thread_id: String,
    /// The turn.
    pub turn_id: String,
}

/// `ThreadUnsubscribeParams`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadUnsubscribeParams {
    /// The thread.
    pub thread_id: String,
}

/// `TokenUsageBreakdown`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsageBreakdown {
    /// Input tokens.
    pub input_tokens: u64,
    /// Cached input tokens.
    pub cached_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Reasoning output tokens.
    pub reasoning_output_tokens: u64,
    /// All tokens.
    pub total_tokens: u64,
}

/// `ThreadTokenUsage` (the fields read).
#[derive(Debug, Clone, Deserialize)]
pub struct ThreadTokenUsage {
    /// The thread's total (one ephemeral thread is one request here).
    pub total: TokenUsageBreakdown,
}

/// `RateLimitWindow`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitWindow {
    /// Percent of the window used.
    pub used_percent: i64,
    /// Unix seconds when the window resets.
    #[serde(default)]
    pub resets_at: Option<i64>,
}

/// The answer to a request the server sends the client: every approval and question is
/// declined (SPEC §12), and anything else refused with a JSON-RPC error.
pub fn decline(method: &str) -> Result<Value, (i64, String)> {
    match method {
        "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" => {
            Ok(json!({ "decision": "decline" }))
        }
        "execCommandApproval" | "applyPatchApproval" => Ok(json!({
            "decision": { "denied": { "rejection": "declined by the scillm sidecar: approvals are never granted" } }
        })),
        "item/tool/requestUserInput" => Ok(json!({ "answers": {} })),
        "mcpServer/elicitation/request" => Ok(json!({ "action": "decline" })),
        other => Err((
            -32601,
            format!("`{other}` is not supported by this client: declined"),
        )),
    }
}

/// The server requests [`decline`] answers with a typed result.
pub const DECLINED_REQUESTS: &[&str] = &[
    "item/commandExecution/requestApproval",
    "item/fileChange/requestApproval",
    "execCommandApproval",
    "applyPatchApproval",
    "item/tool/requestUserInput",
    "mcpServer/elicitation/request",
];

/// The version in a user agent such as `codex_cli_rs/1.2.3 (Linux …) …`.
pub fn version_of_user_agent(ua: &str) -> Option<String> {
    let after = ua.split_once('/')?.1;
    let v: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_declines() {
        assert_eq!(
            version_of_user_agent("codex_cli_rs/1.2.3 (Linux 6.1; x86_64) scillm/0.1.0").as_deref(),
            Some("1.2.3")
        );
        assert!(decline("item/tool/call").is_err());
        for m in DECLINED_REQUESTS {
            assert!(decline(m).is_ok(), "{m}");
        }
    }
}
