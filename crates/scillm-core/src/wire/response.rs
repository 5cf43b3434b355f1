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

/// A chat completion (`object: "chat.completion"`). An explicit `"usage": null` is kept
/// in `extra` so it round-trips (SPEC §11).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(remote = "Self")]
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

/// A streamed chunk (`object: "chat.completion.chunk"`). An explicit `"usage": null` is
/// kept in `extra` so it round-trips (SPEC §11).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(remote = "Self")]
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

/// The incremental part of a chunk. An explicit `null` on `role`, `reasoning_content` or
/// `tool_calls` is kept in `extra` so it round-trips (SPEC §11).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(remote = "Self")]
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

/// What a completion is read into: `usage: null` told apart from an absent `usage`.
#[derive(Deserialize)]
struct ChatResponseIn {
    id: String,
    #[serde(default = "completion_object")]
    object: String,
    #[serde(default)]
    created: u64,
    #[serde(default)]
    model: String,
    choices: Vec<Choice>,
    #[serde(default, with = "super::double_option")]
    usage: Option<Option<Usage>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ChatResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = ChatResponseIn::deserialize(d)?;
        let mut extra = r.extra;
        let usage = super::nulls::Keeper::new(&mut extra).take("usage", r.usage);
        Ok(Self {
            id: r.id,
            object: r.object,
            created: r.created,
            model: r.model,
            choices: r.choices,
            usage,
            extra,
        })
    }
}

impl Serialize for ChatResponse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let set = |k: &str| k == "usage" && self.usage.is_some();
        if !super::nulls::shadowed(&self.extra, set) {
            return ChatResponse::serialize(self, s);
        }
        let mut clean = self.clone();
        super::nulls::unshadow(&mut clean.extra, set);
        ChatResponse::serialize(&clean, s)
    }
}

/// What a chunk is read into: `usage: null` told apart from an absent `usage`.
#[derive(Deserialize)]
struct ChatChunkIn {
    id: String,
    #[serde(default = "chunk_object")]
    object: String,
    #[serde(default)]
    created: u64,
    #[serde(default)]
    model: String,
    choices: Vec<ChunkChoice>,
    #[serde(default, with = "super::double_option")]
    usage: Option<Option<Usage>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ChatChunk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let c = ChatChunkIn::deserialize(d)?;
        let mut extra = c.extra;
        let usage = super::nulls::Keeper::new(&mut extra).take("usage", c.usage);
        Ok(Self {
            id: c.id,
            object: c.object,
            created: c.created,
            model: c.model,
            choices: c.choices,
            usage,
            extra,
        })
    }
}

impl Serialize for ChatChunk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let set = |k: &str| k == "usage" && self.usage.is_some();
        if !super::nulls::shadowed(&self.extra, set) {
            return ChatChunk::serialize(self, s);
        }
        let mut clean = self.clone();
        super::nulls::unshadow(&mut clean.extra, set);
        ChatChunk::serialize(&clean, s)
    }
}

/// What a delta is read into: explicit `null`s told apart from absent fields.
#[derive(Deserialize)]
struct DeltaIn {
    #[serde(default, with = "super::double_option")]
    role: Option<Option<Role>>,
    #[serde(default, with = "super::double_option")]
    content: Option<Option<String>>,
    #[serde(default, with = "super::double_option")]
    reasoning_content: Option<Option<String>>,
    #[serde(default, with = "super::double_option")]
    tool_calls: Option<Option<Vec<Value>>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Delta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let dl = DeltaIn::deserialize(d)?;
        let mut extra = dl.extra;
        let mut keep = super::nulls::Keeper::new(&mut extra);
        let role = keep.take("role", dl.role);
        let reasoning_content = keep.take("reasoning_content", dl.reasoning_content);
        let tool_calls = keep.take("tool_calls", dl.tool_calls);
        Ok(Self {
            role,
            content: dl.content,
            reasoning_content,
            tool_calls,
            extra,
        })
    }
}

impl Serialize for Delta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let set = |k: &str| match k {
            "role" => self.role.is_some(),
            "reasoning_content" => self.reasoning_content.is_some(),
            "tool_calls" => self.tool_calls.is_some(),
            _ => false,
        };
        if !super::nulls::shadowed(&self.extra, set) {
            return Delta::serialize(self, s);
        }
        let mut clean = self.clone();
        super::nulls::unshadow(&mut clean.extra, set);
        Delta::serialize(&clean, s)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
