//! The JSONL events of `codex exec --json` as [`TurnEvent`]s (SPEC §12 "Outcome").
//!
//! `item.completed` `agent_message` → a message (exec marks no phases, so the last one is
//! the answer); `reasoning` items → reasoning; `turn.completed` → usage and success;
//! `turn.failed` → failure; a top-level `error` event or an `error` item → a warning (the
//! turn may still complete, e.g. after "Reconnecting... 1/5"). A JSON line that is no
//! known event (such as the `{"id","msg"}` lines of CLIs older than
//! [`MIN_CODEX_CLI_VERSION`]) is [`unrecognised`]; lines that are not JSON are plain output.

use scillm_core::wire::Usage;
use serde_json::{json, Map, Value};

use crate::sidecar::turn::{Phase, TurnEvent};
use crate::MIN_CODEX_CLI_VERSION;
use scillm_serve::ApiError;

/// Event types of `codex exec --json` that carry nothing for the answer.
const QUIET_EVENTS: &[&str] = &[
    "thread.started",
    "turn.started",
    "item.started",
    "item.updated",
];

/// The 502 for output that is no known Codex event, naming the minimum CLI version.
pub fn unrecognised(line: &str) -> ApiError {
    let shown: String = line.chars().take(200).collect();
    ApiError::upstream(
        "codex_output_unrecognised",
        format!(
            "the Codex CLI printed output that is no known event: `{shown}`; this sidecar supports Codex CLI {MIN_CODEX_CLI_VERSION} or newer (npm install -g @openai/codex@latest)"
        ),
    )
}

fn text_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// What one stdout line means; `None` for an event with nothing for the answer.
pub fn parse_line(line: &str) -> Option<TurnEvent> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return None;
    }
    let v = match serde_json::from_str::<Value>(trimmed) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
        // Not JSON, or a bare JSON scalar such as `42`: plain output.
        _ => return Some(TurnEvent::Plain(line.to_string())),
    };
    let Some(kind) = v.get("type").and_then(Value::as_str) else {
        return Some(TurnEvent::Fatal(unrecognised(trimmed)));
    };
    match kind {
        "item.completed" => {
            let item = v.get("item").cloned().unwrap_or(Value::Null);
            let id = text_of(&item, "id");
            match item.get("type").and_then(Value::as_str) {
                Some("agent_message") => Some(TurnEvent::MessageCompleted {
                    id,
                    phase: Phase::Unknown,
                    text: text_of(&item, "text"),
                }),
                Some("reasoning") => Some(TurnEvent::ReasoningCompleted {
                    id,
                    text: text_of(&item, "text"),
                }),
                Some("error") => Some(TurnEvent::Warning(text_of(&item, "message"))),
                _ => None,
            }
        }
        "turn.completed" => Some(match v.get("usage") {
            Some(u) => TurnEvent::Usage(map_usage(u)),
            None => TurnEvent::Completed,
        }),
        "turn.failed" => {
            let msg = v
                .get("error")
                .map(|e| text_of(e, "message"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the turn failed".into());
            Some(TurnEvent::Failed(msg))
        }
        "error" => Some(TurnEvent::Warning(
            Some(text_of(&v, "message"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the Codex CLI reported an error".into()),
        )),
        k if QUIET_EVENTS.contains(&k) => None,
        // A later CLI's new item, turn or thread event: nothing for the answer.
        k if ["item.", "turn.", "thread."]
            .iter()
            .any(|p| k.starts_with(p)) =>
        {
            None
        }
        _ => Some(TurnEvent::Fatal(unrecognised(trimmed))),
    }
}

/// The events of one line: `turn.completed` with usage gives its usage, then completion.
pub fn events_of_line(line: &str) -> Vec<TurnEvent> {
    match parse_line(line) {
        Some(TurnEvent::Usage(u)) => vec![TurnEvent::Usage(u), TurnEvent::Completed],
        Some(e) => vec![e],
        None => Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_codex_run() {
        let events: Vec<TurnEvent> = [
            r#"{"type":"thread.started","thread_id":"t1"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"error","message":"Reconnecting... 1/5"}"#,
            r#"{"type":"item.completed","item":{"id":"i1","type":"reasoning","text":"thinking"}}"#,
            r#"{"type":"item.completed","item":{"id":"i2","type":"agent_message","text":"final"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":3}}"#,
        ]
        .iter()
        .flat_map(|l| events_of_line(l))
        .collect();
        assert!(matches!(&events[0], TurnEvent::Warning(w) if w.contains("Reconnecting")));
        assert!(matches!(&events[2], TurnEvent::MessageCompleted { text, .. } if text == "final"));
        let TurnEvent::Usage(u) = &events[3] else {
            panic!("{events:?}")
        };
        assert_eq!((u.prompt_tokens, u.completion_tokens), (10, 3));
        assert_eq!(u.extra["prompt_tokens_details"]["cached_tokens"], 4);
        assert!(matches!(events[4], TurnEvent::Completed));
    }

    #[test]
    fn old_format_and_unknown_json_are_unrecognised() {
        for line in [
            r#"{"id":"0","msg":{"type":"agent_message","message":"hi"}}"#,
            r#"{"type":"something_else"}"#,
            "[1,2]",
        ] {
            match parse_line(line) {
                Some(TurnEvent::Fatal(e)) => {
                    assert_eq!(e.body.error.code, Some("codex_output_unrecognised".into()));
                    assert!(e.message().contains(MIN_CODEX_CLI_VERSION));
                }
                other => panic!("{line}: {other:?}"),
            }
        }
        assert!(matches!(parse_line("hello"), Some(TurnEvent::Plain(_))));
        assert!(parse_line(r#"{"type":"item.future_kind"}"#).is_none());
    }
}
