//! The defaults of SPEC §11, applied to an upstream answer's JSON before it is read into
//! the wire types. Only fields that are missing, `null` or of another JSON type than the
//! wire type needs are touched; every other field is kept as sent.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::StreamIds;
use crate::wire::unix_now;

/// A fresh `chatcmpl-…` id for an answer that came without one.
pub fn new_completion_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{:x}{n:04x}", nanos & u128::from(u64::MAX))
}

/// Fill the §11 defaults of a completion in place. Returns `false` when `value` is no
/// completion (no object at `choices[0]` with a `message` object or a legacy `text`).
///
/// Defaults: `id` → a generated `chatcmpl-…`; `object` → `chat.completion`; `created`
/// (null, float, numeric string) → integer seconds, now when unusable; `model` → `""`;
/// each choice's `index` → its position; `message.role` (missing, null, unknown) →
/// `assistant`; a legacy `text` becomes `message.content`; token counts as int, float,
/// numeric string or null → integer or absent.
pub fn normalise_completion(value: &mut Value) -> bool {
    let Some(obj) = value.as_object_mut() else {
        return false;
    };
    let has_content = obj
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .is_some_and(|c| {
            c.get("message").is_some_and(Value::is_object)
                || c.get("text").is_some_and(|t| t.is_string() || t.is_null())
        });
    if !has_content {
        return false;
    }
    fill_id(obj, None);
    fill_object(obj, "chat.completion");
    fill_created(obj, None);
    fill_model(obj);
    fill_usage(obj);
    if let Some(Value::Array(choices)) = obj.get_mut("choices") {
        choices.retain(Value::is_object);
        for (pos, choice) in choices.iter_mut().enumerate() {
            if let Value::Object(c) = choice {
                fill_index(c, pos);
                fill_finish_reason(c);
                if !c.get("message").is_some_and(Value::is_object) {
                    let text = c.get("text").cloned().unwrap_or(Value::Null);
                    let mut m = Map::new();
                    m.insert("content".into(), text);
                    c.insert("message".into(), Value::Object(m));
                }
                if let Some(Value::Object(m)) = c.get_mut("message") {
                    fill_message(m);
                }
            }
        }
    }
    true
}

/// Fill the §11 defaults of a stream chunk in place: those of a completion, `object` →
/// `chat.completion.chunk`, no `choices` → `[]`, no `delta` → `{}`, and the stream's id
/// and `created` from `ids`. Returns `false` when `value` is not a JSON object.
pub fn normalise_chunk(value: &mut Value, ids: &mut StreamIds) -> bool {
    let Some(obj) = value.as_object_mut() else {
        return false;
    };
    fill_id(obj, ids.id.as_deref());
    ids.id.get_or_insert_with(|| str_of(obj, "id"));
    fill_object(obj, "chat.completion.chunk");
    fill_created(obj, ids.created);
    ids.created
        .get_or_insert(obj.get("created").and_then(Value::as_u64).unwrap_or(0));
    fill_model(obj);
    fill_usage(obj);
    match obj.get_mut("choices") {
        Some(Value::Array(choices)) => {
            choices.retain(Value::is_object);
            for (pos, choice) in choices.iter_mut().enumerate() {
                if let Value::Object(c) = choice {
                    fill_index(c, pos);
                    fill_finish_reason(c);
                    if !c.get("delta").is_some_and(Value::is_object) {
                        // Some servers send the whole message (or legacy text) per chunk.
                        let delta = match (c.remove("message"), c.get("text")) {
                            (Some(Value::Object(m)), _) => Value::Object(m),
                            (_, Some(Value::String(t))) => {
                                serde_json::json!({ "content": t })
                            }
                            _ => Value::Object(Map::new()),
                        };
                        c.insert("delta".into(), delta);
                    }
                    if let Some(Value::Object(d)) = c.get_mut("delta") {
                        fill_delta(d);
                    }
                }
            }
        }
        _ => {
            obj.insert("choices".into(), Value::Array(Vec::new()));
        }
    }
    true
}

fn str_of(obj: &Map<String, Value>, key: &str) -> String {
    obj.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn fill_id(obj: &mut Map<String, Value>, stream_id: Option<&str>) {
    match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::Number(n)) => {
            let s = n.to_string();
            obj.insert("id".into(), Value::String(s));
        }
        _ => {
            let id = stream_id.map_or_else(new_completion_id, str::to_string);
            obj.insert("id".into(), Value::String(id));
        }
    }
}

fn fill_object(obj: &mut Map<String, Value>, default: &str) {
    if !obj.get("object").is_some_and(Value::is_string) {
        obj.insert("object".into(), Value::from(default));
    }
}

fn fill_created(obj: &mut Map<String, Value>, stream_created: Option<u64>) {
    if obj.get("created").is_some_and(Value::is_u64) {
        return;
    }
    let secs = obj
        .get("created")
        .and_then(as_count)
        .or(stream_created)
        .unwrap_or_else(unix_now);
    obj.insert("created".into(), Value::from(secs));
}

fn fill_model(obj: &mut Map<String, Value>) {
    match obj.get("model") {
        Some(Value::String(_)) | None => {}
        Some(Value::Null) => {
            obj.remove("model");
        }
        Some(other) => {
            let s = other.to_string();
            obj.insert("model".into(), Value::String(s));
        }
    }
}

fn fill_index(c: &mut Map<String, Value>, pos: usize) {
    if c.get("index")
        .is_some_and(|v| v.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)))
    {
        return;
    }
    let index = c
        .get("index")
        .and_then(as_count)
        .filter(|n| *n <= u64::from(u32::MAX))
        .unwrap_or(pos as u64);
    c.insert("index".into(), Value::from(index));
}

fn fill_finish_reason(c: &mut Map<String, Value>) {
    match c.get("finish_reason") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(other) => {
            let s = other.to_string();
            c.insert("finish_reason".into(), Value::String(s));
        }
    }
}

/// `role` missing, null or unknown → `assistant`; nulls of optional fields dropped;
/// content of another type → its JSON text; tool calls readable.
fn fill_message(m: &mut Map<String, Value>) {
    if !m
        .get("role")
        .and_then(Value::as_str)
        .is_some_and(known_role)
    {
        m.insert("role".into(), Value::from("assistant"));
    }
    fill_content(m);
    drop_nulls(
        m,
        &["name", "tool_call_id", "reasoning_content", "tool_calls"],
    );
    for key in ["name", "tool_call_id", "reasoning_content"] {
        fill_optional_string(m, key);
    }
    if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
        // A call without a function object carries nothing to act on.
        calls.retain(|c| c.get("function").is_some_and(Value::is_object));
        for (pos, call) in calls.iter_mut().enumerate() {
            if let Value::Object(call) = call {
                if !call.get("id").is_some_and(Value::is_string) {
                    call.insert("id".into(), Value::String(format!("call_{pos}")));
                }
                if !call.get("type").is_some_and(Value::is_string) {
                    call.insert("type".into(), Value::from("function"));
                }
                fill_function(call);
            }
        }
    } else if m.contains_key("tool_calls") {
        m.remove("tool_calls");
    }
}

/// The delta of a chunk: like a message, but `role` stays optional.
fn fill_delta(d: &mut Map<String, Value>) {
    match d.get("role") {
        Some(Value::String(r)) if known_role(r) => {}
        Some(Value::String(_)) => {
            d.insert("role".into(), Value::from("assistant"));
        }
        Some(_) => {
            d.remove("role");
        }
        None => {}
    }
    fill_content(d);
    drop_nulls(d, &["reasoning_content", "tool_calls"]);
    fill_optional_string(d, "reasoning_content");
    if let Some(Value::Array(calls)) = d.get_mut("tool_calls") {
        calls.retain(Value::is_object);
        for call in calls.iter_mut() {
            if let Value::Object(call) = call {
                fill_function(call);
            }
        }
    } else if d.contains_key("tool_calls") {
        d.remove("tool_calls");
    }
}

fn fill_content(m: &mut Map<String, Value>) {
    match m.get("content") {
        None | Some(Value::Null | Value::String(_) | Value::Array(_)) => {}
        Some(other) => {
            let s = other.to_string();
            m.insert("content".into(), Value::String(s));
        }
    }
}

fn fill_optional_string(m: &mut Map<String, Value>, key: &str) {
    if let Some(v) = m.get(key) {
        if !v.is_string() {
            let s = v.to_string();
            m.insert(key.into(), Value::String(s));
        }
    }
}

/// `function.name` and `function.arguments` as strings (Ollama and some others send the
/// arguments as a JSON object).
fn fill_function(call: &mut Map<String, Value>) {
    if let Some(Value::Object(f)) = call.get_mut("function") {
        match f.get("arguments") {
            None | Some(Value::String(_)) => {}
            Some(Value::Null) => {
                f.remove("arguments");
            }
            Some(other) => {
                let s = other.to_string();
                f.insert("arguments".into(), Value::String(s));
            }
        }
        if !f.get("name").is_some_and(Value::is_string) {
            f.insert("name".into(), Value::String(String::new()));
        }
    }
}

fn drop_nulls(m: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if m.get(*k).is_some_and(Value::is_null) {
            m.remove(*k);
        }
    }
}

fn known_role(r: &str) -> bool {
    matches!(
        r,
        "system" | "developer" | "user" | "assistant" | "tool" | "function"
    )
}

/// Token counts (`prompt_tokens`, `completion_tokens`, `total_tokens`) as integers; a
/// count that cannot be read is dropped; a `usage` that is not an object is dropped.
fn fill_usage(obj: &mut Map<String, Value>) {
    match obj.get_mut("usage") {
        Some(Value::Object(u)) => {
            for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
                match u.get(key) {
                    None => {}
                    Some(v) if v.is_u64() => {}
                    Some(v) => match as_count(v) {
                        Some(n) => {
                            u.insert(key.into(), Value::from(n));
                        }
                        None => {
                            u.remove(key);
                        }
                    },
                }
            }
        }
        Some(_) => {
            obj.remove("usage");
        }
        None => {}
    }
}

/// A non-negative count from an int, a float (rounded) or a numeric string.
fn as_count(v: &Value) -> Option<u64> {
    let f = match v {
        Value::Number(n) => n.as_u64().map(|u| u as f64).or_else(|| n.as_f64())?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (0.0..1.8e19).contains(&f).then(|| f.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bare_message_gets_every_default() {
        let mut v = json!({"choices":[{"message":{"content":"ok"}}]});
        assert!(normalise_completion(&mut v));
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(v["object"], "chat.completion");
        assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(v["choices"][0]["index"], 0);
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    }

    #[test]
    fn retyped_numbers_become_integers() {
        let mut v = json!({"id": 7, "created": "1700000000.5", "model": null,
            "choices":[{"index": "1", "message":{"role": null, "content": "x"}, "finish_reason": null}],
            "usage": {"prompt_tokens": 3.0, "completion_tokens": "4", "total_tokens": null,
                      "prompt_tokens_details": {"cached_tokens": 0}}});
        assert!(normalise_completion(&mut v));
        assert_eq!(v["id"], "7");
        assert_eq!(v["created"], 1_700_000_001u64);
        assert!(v.get("model").is_none());
        assert_eq!(v["choices"][0]["index"], 1);
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(v["usage"]["completion_tokens"], 4);
        assert!(v["usage"].get("total_tokens").is_none());
        assert_eq!(
            v["usage"]["prompt_tokens_details"],
            json!({"cached_tokens": 0})
        );
    }

    #[test]
    fn no_message_is_no_completion() {
        for mut v in [
            json!({"choices": []}),
            json!({"hello": 1}),
            json!([1]),
            json!({"choices":[{"delta":{}}]}),
        ] {
            assert!(!normalise_completion(&mut v), "{v}");
        }
        let mut legacy = json!({"choices":[{"text":"old"}]});
        assert!(normalise_completion(&mut legacy));
        assert_eq!(legacy["choices"][0]["message"]["content"], "old");
    }

    #[test]
    fn chunks_share_the_stream_id() {
        let mut ids = StreamIds::default();
        let mut a = json!({"choices":[{"delta":{"content":"a"}}]});
        let mut b = json!({"usage":{"prompt_tokens":1}});
        assert!(normalise_chunk(&mut a, &mut ids));
        assert!(normalise_chunk(&mut b, &mut ids));
        assert_eq!(a["id"], b["id"]);
        assert_eq!(b["choices"], json!([]));
        assert_eq!(a["object"], "chat.completion.chunk");
    }
}
