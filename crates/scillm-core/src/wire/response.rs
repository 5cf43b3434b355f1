//! The chat completion response, stream chunks and usage.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Message, Role, ToolCall};

/// Token usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Total tokens.
    #[serde(default)]
    pub total_tokens: u64,
    /// Details (`prompt_tokens_details`, `completion_tokens_details`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A chat completion (`object: "chat.completion"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Upstream id, kept.
    pub id: String,
    /// `chat.completion`.
    #[serde(default = "completion_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The choices.
    pub choices: Vec<Choice>,
    /// Token usage when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Any other field (`system_fingerprint`, `service_tier`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn completion_object() -> String {
    "chat.completion".into()
}

impl ChatResponse {
    /// A one-choice assistant answer with `content`.
    pub fn from_text(
        id: impl Into<String>,
        model: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            object: completion_object(),
            created: unix_now(),
            model: model.into(),
            choices: vec![Choice {
                index: 0,
                message: Message::assistant(content),
                finish_reason: Some("stop".into()),
                extra: Map::new(),
            }],
            usage: None,
            extra: Map::new(),
        }
    }

    /// The first choice's message text (`""` when there is none).
    pub fn first_text(&self) -> String {
        self.choices
            .first()
            .map(|c| c.message.text_content())
            .unwrap_or_default()
    }

    /// The first choice's tool calls, if any.
    pub fn first_tool_calls(&self) -> &[ToolCall] {
        self.choices
            .first()
            .and_then(|c| c.message.tool_calls.as_deref())
            .unwrap_or(&[])
    }
}

/// One choice of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Position of the choice.
    #[serde(default)]
    pub index: u32,
    /// The answer.
    pub message: Message,
    /// `stop`, `length`, `tool_calls`, … (`null` kept as `null`).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Any other field (`logprobs`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A streamed chunk (`object: "chat.completion.chunk"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    /// Stream id (the same for every chunk of one answer).
    pub id: String,
    /// `chat.completion.chunk`.
    #[serde(default = "chunk_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The deltas.
    pub choices: Vec<ChunkChoice>,
    /// Usage, on the last chunk when the upstream sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".into()
}

impl ChatChunk {
    /// A chunk with one choice carrying `delta`.
    pub fn delta(
        id: impl Into<String>,
        model: impl Into<String>,
        delta: Delta,
        finish_reason: Option<String>,
    ) -> Self {
        Self {
            id: id.into(),
            object: chunk_object(),
            created: unix_now(),
            model: model.into(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                extra: Map::new(),
            }],
            usage: None,
            extra: Map::new(),
        }
    }
}

/// One choice of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Position of the choice.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the last chunk of the choice (`null` kept as `null`).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The incremental part of a chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Set on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Text added by this chunk; `Some(None)` is an explicit `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::double_option"
    )]
    pub content: Option<Option<String>>,
    /// Reasoning text added by this chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Partial tool calls, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
    /// Any other field (`refusal`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Delta {
    /// A delta adding `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: Some(Some(text.into())),
            ..Self::default()
        }
    }

    /// The text this delta adds (`""` when none).
    pub fn text_str(&self) -> &str {
        self.content
            .as_ref()
            .and_then(|c| c.as_deref())
            .unwrap_or("")
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
