//! The JSONL events of `codex exec --json`, and the answer they add up to.
//!
//! The answer is the text of the last `item.completed` `agent_message`; `reasoning` items
//! go to `reasoning_content`; `turn.completed.usage` becomes `usage`; `turn.failed` and
//! top-level `error` events are failures. An `item.completed` of type `error` (such as the
//! missing-model-metadata notice) is only a warning. Lines that are not JSON events are
//! plain output, returned trimmed when the CLI printed no answer event.

use scillm_core::wire::Usage;
use serde_json::{json, Map, Value};

use crate::sidecar::error::ApiError;

/// What one stdout line means.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A complete agent message (the answer so far).
    Answer(String),
    /// A reasoning item.
    Reasoning(String),
    /// Token usage of the turn.
    Usage(Usage),
    /// The turn failed.
    Failure(String),
    /// A non-fatal error item.
    Warning(String),
    /// A line that is not a JSON event.
    Plain(String),
    /// An event with nothing for the answer (`thread.started`, `item.started`, …).
    Ignored,
}

fn text_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Classify one stdout line.
pub fn parse_line(line: &str) -> Event {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Event::Ignored;
    }
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(trimmed) else {
        return Event::Plain(line.to_string());
    };
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        return Event::Plain(line.to_string());
    };
    let v = Value::Object(obj.clone());
    match kind {
        "item.completed" => {
            let item = v.get("item").cloned().unwrap_or(Value::Null);
            match item.get("type").and_then(Value::as_str) {
                Some("agent_message") => Event::Answer(text_of(&item, "text")),
                Some("reasoning") => Event::Reasoning(text_of(&item, "text")),
                Some("error") => Event::Warning(text_of(&item, "message")),
                _ => Event::Ignored,
            }
        }
        "turn.completed" => v
            .get("usage")
            .map(|u| Event::Usage(map_usage(u)))
            .unwrap_or(Event::Ignored),
        "turn.failed" => {
            let msg = v
                .get("error")
                .map(|e| text_of(e, "message"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the turn failed".into());
            Event::Failure(msg)
        }
        "error" => Event::Failure(
            Some(text_of(&v, "message"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the Codex CLI reported an error".into()),
        ),
        _ => Event::Ignored,
    }
}

/// `turn.completed.usage` as OpenAI usage (cached and reasoning tokens in the details).
pub fn map_usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (input, output) = (n("input_tokens"), n("output_tokens"));
    let mut extra = Map::new();
    extra.insert(
        "prompt_tokens_details".into(),
        json!({ "cached_tokens": n("cached_input_tokens") }),
    );
    if u.get("reasoning_output_tokens").is_some() {
        extra.insert(
            "completion_tokens_details".into(),
            json!({ "reasoning_tokens": n("reasoning_output_tokens") }),
        );
    }
    Usage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input + output,
        extra,
    }
}

/// The answer of a finished run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// The assistant text.
    pub content: String,
    /// Reasoning items joined by blank lines, when there were any.
    pub reasoning: Option<String>,
    /// Token usage, when the CLI reported it.
    pub usage: Option<Usage>,
}

/// Everything a run printed, folded as it arrives.
#[derive(Debug, Default)]
pub struct Transcript {
    answer: Option<String>,
    reasoning: Vec<String>,
    usage: Option<Usage>,
    failure: Option<String>,
    warnings: Vec<String>,
    plain: Vec<String>,
}

impl Transcript {
    /// Fold one stdout line in; returns what it meant.
    pub fn push(&mut self, line: &str) -> Event {
        let event = parse_line(line);
        match &event {
            Event::Answer(t) => self.answer = Some(t.clone()),
            Event::Reasoning(t) if !t.is_empty() => self.reasoning.push(t.clone()),
            Event::Usage(u) => self.usage = Some(u.clone()),
            Event::Failure(m) => self.failure = Some(m.clone()),
            Event::Warning(m) => {
                tracing::warn!(message = %m, "Codex CLI warning");
                self.warnings.push(m.clone());
            }
            Event::Plain(l) => self.plain.push(l.clone()),
            Event::Reasoning(_) | Event::Ignored => {}
        }
        event
    }

    /// The failure message, if the CLI reported one.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// The trimmed plain (non-JSONL) output.
    pub fn plain_text(&self) -> String {
        self.plain.join("\n").trim().to_string()
    }

    /// Whether an answer event has been seen.
    pub fn has_answer(&self) -> bool {
        self.answer.is_some()
    }

    /// The answer of a run that exited 0.
    pub fn finish(self) -> Result<Answer, ApiError> {
        if let Some(msg) = self.failure {
            return Err(ApiError::upstream(
                "codex_failed",
                format!("the Codex CLI reported a failure: {msg}"),
            ));
        }
        let reasoning = (!self.reasoning.is_empty()).then(|| self.reasoning.join("\n\n"));
        let content = match self.answer {
            Some(a) => a,
            None => {
                let plain = self.plain.join("\n").trim().to_string();
                if plain.is_empty() {
                    let detail = if self.warnings.is_empty() {
                        "it printed no agent message".to_string()
                    } else {
                        format!("it printed no agent message ({})", self.warnings.join("; "))
                    };
                    return Err(ApiError::upstream(
                        "codex_no_answer",
                        format!("the Codex CLI gave no answer: {detail}"),
                    ));
                }
                plain
            }
        };
        Ok(Answer {
            content,
            reasoning,
            usage: self.usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_a_codex_run() {
        let mut t = Transcript::default();
        for line in [
            r#"{"type":"thread.started","thread_id":"t1"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"i0","type":"error","message":"Model metadata for `gpt-x` not found"}}"#,
            r#"{"type":"item.completed","item":{"id":"i1","type":"reasoning","text":"thinking"}}"#,
            r#"{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"draft"}}"#,
            r#"{"type":"item.completed","item":{"id":"i3","type":"agent_message","text":"final"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":3}}"#,
        ] {
            t.push(line);
        }
        let a = t.finish().unwrap();
        assert_eq!(a.content, "final");
        assert_eq!(a.reasoning.as_deref(), Some("thinking"));
        let u = a.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (10, 3, 13)
        );
        assert_eq!(u.extra["prompt_tokens_details"]["cached_tokens"], 4);
    }

    #[test]
    fn failures_and_plain_text() {
        let mut t = Transcript::default();
        t.push(r#"{"type":"turn.failed","error":{"message":"model overloaded"}}"#);
        let e = t.finish().unwrap_err();
        assert_eq!(e.status.as_u16(), 502);
        assert!(e.message().contains("model overloaded"));

        let mut t = Transcript::default();
        t.push(r#"{"type":"error","message":"stream disconnected"}"#);
        assert!(t
            .finish()
            .unwrap_err()
            .message()
            .contains("stream disconnected"));

        let mut t = Transcript::default();
        for l in ["", "  hello there  ", ""] {
            t.push(l);
        }
        assert_eq!(t.finish().unwrap().content, "hello there");
        assert_eq!(parse_line("[1,2]"), Event::Plain("[1,2]".into()));
        assert!(Transcript::default().finish().is_err());
    }
}
