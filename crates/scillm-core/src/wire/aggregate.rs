//! Folding the chunks of a streamed answer into one [`ChatResponse`]: the content
//! concatenated, tool calls assembled from their pieces (with or without `index`, SPEC
//! §11), the last `usage` kept.
//!
//! ```
//! use scillm_core::wire::{Aggregator, ChatChunk, Delta};
//! let mut agg = Aggregator::default();
//! agg.push(ChatChunk::delta("s", "m", Delta::text("hello "), None));
//! agg.push(ChatChunk::delta("s", "m", Delta::text("world"), Some("stop".into())));
//! assert_eq!(agg.finish("m").first_text(), "hello world");
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ChatChunk, ChatResponse, Choice, Message, Role, ToolCall, Usage};

/// One choice being assembled.
#[derive(Debug, Default)]
struct ChoiceAcc {
    role: Option<Role>,
    content: String,
    reasoning: String,
    finish_reason: Option<String>,
    /// Partial tool calls by their `index`.
    tool_calls: BTreeMap<u64, Map<String, Value>>,
    /// The index of the call the last tool-call delta went to.
    last_call: Option<u64>,
}

/// Everything seen so far of one streamed answer.
#[derive(Debug, Default)]
pub struct Aggregator {
    id: Option<String>,
    model: Option<String>,
    created: u64,
    usage: Option<Usage>,
    extra: Map<String, Value>,
    choices: BTreeMap<u32, ChoiceAcc>,
}

impl Aggregator {
    /// Fold one chunk in.
    pub fn push(&mut self, chunk: ChatChunk) {
        if self.id.is_none() && !chunk.id.is_empty() {
            self.id = Some(chunk.id);
        }
        if self.model.is_none() && !chunk.model.is_empty() {
            self.model = Some(chunk.model);
        }
        if self.created == 0 {
            self.created = chunk.created;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        for (k, v) in chunk.extra {
            self.extra.entry(k).or_insert(v);
        }
        for c in chunk.choices {
            let acc = self.choices.entry(c.index).or_default();
            if let Some(role) = c.delta.role {
                acc.role = Some(role);
            }
            acc.content.push_str(c.delta.text_str());
            if let Some(r) = &c.delta.reasoning_content {
                acc.reasoning.push_str(r);
            }
            if c.finish_reason.is_some() {
                acc.finish_reason = c.finish_reason;
            }
            for part in c.delta.tool_calls.into_iter().flatten() {
                merge_tool_call(acc, part);
            }
        }
    }

    /// The assembled response.
    pub fn finish(self, fallback_model: &str) -> ChatResponse {
        let mut choices: Vec<Choice> = self
            .choices
            .into_iter()
            .map(|(index, acc)| {
                let mut message = Message::text(acc.role.unwrap_or(Role::Assistant), acc.content);
                if !acc.reasoning.is_empty() {
                    message.reasoning_content = Some(acc.reasoning);
                }
                let calls: Vec<ToolCall> = acc
                    .tool_calls
                    .into_iter()
                    .filter_map(|(i, mut m)| {
                        m.entry("id")
                            .or_insert_with(|| Value::String(format!("call_{i}")));
                        m.entry("type").or_insert_with(|| Value::from("function"));
                        if let Some(Value::Object(f)) = m.get_mut("function") {
                            f.entry("name")
                                .or_insert_with(|| Value::String(String::new()));
                        }
                        serde_json::from_value(Value::Object(m)).ok()
                    })
                    .collect();
                if !calls.is_empty() {
                    message.tool_calls = Some(calls);
                }
                Choice {
                    index,
                    message,
                    finish_reason: acc.finish_reason,
                    extra: Map::new(),
                }
            })
            .collect();
        if choices.is_empty() {
            choices.push(Choice {
                index: 0,
                message: Message::assistant(""),
                finish_reason: None,
                extra: Map::new(),
            });
        }
        ChatResponse {
            id: self.id.unwrap_or_else(|| "scillm-stream".into()),
            object: "chat.completion".into(),
            created: self.created,
            model: self.model.unwrap_or_else(|| fallback_model.to_string()),
            choices,
            usage: self.usage,
            extra: self.extra,
        }
    }
}

/// Which call a tool-call delta belongs to (SPEC §11): its `index` when it has one;
/// without one, a new `id` starts a new call (a known `id` joins its call) and an
/// argument-only delta continues the last call.
fn call_index(acc: &ChoiceAcc, part: &Map<String, Value>) -> u64 {
    if let Some(i) = part.get("index").and_then(Value::as_u64) {
        return i;
    }
    let next = acc.tool_calls.keys().next_back().map_or(0, |k| k + 1);
    match part
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(id) => acc
            .tool_calls
            .iter()
            .find(|(_, call)| call.get("id").and_then(Value::as_str) == Some(id))
            .map_or(next, |(i, _)| *i),
        None => acc.last_call.unwrap_or(0),
    }
}

/// Merge one partial tool call: `id`, `type` and `function.name` are set once,
/// `function.arguments` pieces are appended.
fn merge_tool_call(acc: &mut ChoiceAcc, part: Value) {
    let Value::Object(part) = part else { return };
    let index = call_index(acc, &part);
    acc.last_call = Some(index);
    let slot = acc.tool_calls.entry(index).or_default();
    for (k, v) in part {
        match (k.as_str(), v) {
            ("index", _) => {}
            ("function", Value::Object(f)) => {
                let func = slot
                    .entry("function")
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(func) = func else { continue };
                for (fk, fv) in f {
                    match (fk.as_str(), fv) {
                        ("arguments", Value::String(piece)) => {
                            let args = func
                                .entry("arguments")
                                .or_insert_with(|| Value::String(String::new()));
                            if let Value::String(s) = args {
                                s.push_str(&piece);
                            }
                        }
                        (_, fv) => {
                            func.entry(fk).or_insert(fv);
                        }
                    }
                }
            }
            (_, v) => {
                slot.entry(k).or_insert(v);
            }
        }
    }
}
