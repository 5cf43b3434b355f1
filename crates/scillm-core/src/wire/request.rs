//! The chat completion request.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::Message;

/// An OpenAI chat completion request.
///
/// The common fields are typed; every other field lands in [`ChatRequest::extra`] and is
/// sent on unchanged, so serialising a parsed request reproduces its JSON. An explicit
/// `null` on a typed optional field is kept in `extra` under its name (and yields to a
/// value set later on the typed field), so it round-trips too (SPEC §11).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(remote = "Self")]
pub struct ChatRequest {
    /// The model id, possibly with a provider prefix such as `codex-agent/`.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Stream the answer as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Sampling temperature (kept as the exact JSON number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Number>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<Number>,
    /// Token limit (legacy name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Token limit (newer name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// `{"type":"text"|"json_object"|"json_schema",…}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// Tool definitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    /// Tool choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Reasoning effort as a string (`low`, `medium`, `high`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Value>,
    /// Reasoning options object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Value>,
    /// Every other field (vendor extras included), carried through unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a request is read into: the typed optional fields tell an explicit `null`
/// (`Some(None)`) from an absent field, in the one pass the derive makes.
#[derive(Deserialize)]
struct ChatRequestIn {
    model: String,
    messages: Vec<Message>,
    #[serde(default, with = "super::double_option")]
    stream: Option<Option<bool>>,
    #[serde(default, with = "super::double_option")]
    temperature: Option<Option<Number>>,
    #[serde(default, with = "super::double_option")]
    top_p: Option<Option<Number>>,
    #[serde(default, with = "super::double_option")]
    max_tokens: Option<Option<u64>>,
    #[serde(default, with = "super::double_option")]
    max_completion_tokens: Option<Option<u64>>,
    #[serde(default, with = "super::double_option")]
    response_format: Option<Option<Value>>,
    #[serde(default, with = "super::double_option")]
    tools: Option<Option<Vec<Value>>>,
    #[serde(default, with = "super::double_option")]
    tool_choice: Option<Option<Value>>,
    #[serde(default, with = "super::double_option")]
    reasoning_effort: Option<Option<Value>>,
    #[serde(default, with = "super::double_option")]
    reasoning: Option<Option<Value>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ChatRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = ChatRequestIn::deserialize(d)?;
        let mut extra = r.extra;
        let mut keep = super::nulls::Keeper::new(&mut extra);
        let stream = keep.take("stream", r.stream);
        let temperature = keep.take("temperature", r.temperature);
        let top_p = keep.take("top_p", r.top_p);
        let max_tokens = keep.take("max_tokens", r.max_tokens);
        let max_completion_tokens = keep.take("max_completion_tokens", r.max_completion_tokens);
        let response_format = keep.take("response_format", r.response_format);
        let tools = keep.take("tools", r.tools);
        let tool_choice = keep.take("tool_choice", r.tool_choice);
        let reasoning_effort = keep.take("reasoning_effort", r.reasoning_effort);
        let reasoning = keep.take("reasoning", r.reasoning);
        Ok(Self {
            model: r.model,
            messages: r.messages,
            stream,
            temperature,
            top_p,
            max_tokens,
            max_completion_tokens,
            response_format,
            tools,
            tool_choice,
            reasoning_effort,
            reasoning,
            extra,
        })
    }
}

impl Serialize for ChatRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let set = |k: &str| self.is_set(k);
        if !super::nulls::shadowed(&self.extra, set) {
            return ChatRequest::serialize(self, s);
        }
        let mut clean = self.clone();
        super::nulls::unshadow(&mut clean.extra, set);
        ChatRequest::serialize(&clean, s)
    }
}

impl ChatRequest {
    /// Whether the typed field `key` holds a value.
    fn is_set(&self, key: &str) -> bool {
        match key {
            "stream" => self.stream.is_some(),
            "temperature" => self.temperature.is_some(),
            "top_p" => self.top_p.is_some(),
            "max_tokens" => self.max_tokens.is_some(),
            "max_completion_tokens" => self.max_completion_tokens.is_some(),
            "response_format" => self.response_format.is_some(),
            "tools" => self.tools.is_some(),
            "tool_choice" => self.tool_choice.is_some(),
            "reasoning_effort" => self.reasoning_effort.is_some(),
            "reasoning" => self.reasoning.is_some(),
            _ => false,
        }
    }

    /// A request for `model` with `messages` and nothing else.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        Self {
            model: model.into(),
            messages,
            stream: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            max_completion_tokens: None,
            response_format: None,
            tools: None,
            tool_choice: None,
            reasoning_effort: None,
            reasoning: None,
            extra: Map::new(),
        }
    }

    /// Whether the caller asked for a streamed answer.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// The request as a JSON object.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
