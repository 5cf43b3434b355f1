//! Turning a stream of chunks into one [`ChatResponse`], for `stream: true` items run
//! through the router.

use std::collections::BTreeMap;

use futures::StreamExt;
use scillm_core::wire::{ChatChunk, ChatResponse, Choice, Message, Role, ToolCall, Usage};
use scillm_core::{ChunkStream, ErrorKind, ProviderError};
use serde_json::{Map, Value};

/// One choice being assembled.
#[derive(Debug, Default)]
struct ChoiceAcc {
    role: Option<Role>,
    content: String,
    reasoning: String,
    finish_reason: Option<String>,
    /// Partial tool calls by their `index`.
    tool_calls: BTreeMap<u64, Map<String, Value>>,
}

/// Everything seen so far.
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
            for (pos, part) in c.delta.tool_calls.into_iter().flatten().enumerate() {
                merge_tool_call(acc, pos as u64, part);
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
                    .into_values()
                    .filter_map(|m| serde_json::from_value(Value::Object(m)).ok())
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

/// Merge one partial tool call: `id`, `type` and `function.name` are set once,
/// `function.arguments` pieces are appended.
fn merge_tool_call(acc: &mut ChoiceAcc, pos: u64, part: Value) {
    let Value::Object(part) = part else { return };
    let index = part.get("index").and_then(Value::as_u64).unwrap_or(pos);
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

/// Drain `stream` into one response; an error item ends it with that error.
pub async fn collect(mut stream: ChunkStream, model: &str) -> Result<ChatResponse, ProviderError> {
    let mut agg = Aggregator::default();
    let mut chunks = 0usize;
    while let Some(item) = stream.next().await {
        agg.push(item?);
        chunks += 1;
    }
    if chunks == 0 {
        return Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            "the stream ended without a single chunk",
        ));
    }
    Ok(agg.finish(model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scillm_core::wire::Delta;
    use serde_json::json;

    #[tokio::test]
    async fn chunks_become_one_message() {
        let mut first = Delta::text("Hel");
        first.role = Some(Role::Assistant);
        let tool = Delta {
            tool_calls: Some(vec![json!({"index": 0, "id": "c1", "type": "function",
                "function": {"name": "echo", "arguments": "{\"a\""}})]),
            ..Delta::default()
        };
        let tool2 = Delta {
            tool_calls: Some(vec![json!({"index": 0, "function": {"arguments": ":1}"}})]),
            ..Delta::default()
        };
        let chunks = vec![
            Ok(ChatChunk::delta("s1", "m", first, None)),
            Ok(ChatChunk::delta("s1", "m", Delta::text("lo"), None)),
            Ok(ChatChunk::delta("s1", "m", tool, None)),
            Ok(ChatChunk::delta("s1", "m", tool2, Some("stop".into()))),
        ];
        let stream: ChunkStream = Box::pin(futures::stream::iter(chunks));
        let r = collect(stream, "fallback").await.unwrap();
        assert_eq!(r.id, "s1");
        assert_eq!(r.first_text(), "Hello");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        let calls = r.first_tool_calls();
        assert_eq!(calls[0].function.name, "echo");
        assert_eq!(calls[0].function.arguments, "{\"a\":1}");
    }

    #[tokio::test]
    async fn a_stream_error_or_an_empty_stream_is_an_error() {
        let items = vec![
            Ok(ChatChunk::delta("s", "m", Delta::text("x"), None)),
            Err(ProviderError::new(ErrorKind::Server, "boom")),
        ];
        let e = collect(Box::pin(futures::stream::iter(items)), "m")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server);
        let e = collect(Box::pin(futures::stream::empty()), "m")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidResponse);
    }
}
