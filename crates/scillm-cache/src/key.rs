//! The cache key: a SHA-256 of the request's normalized form (SPEC §18: exact match on
//! model, messages, sampling fields, response_format and tools).

use std::fmt::Write as _;

use scillm_core::wire::ChatRequest;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Request fields that decide the answer and so take part in the key, besides `model` and
/// `messages`. Everything else — `stream`, `user`, `metadata`, `extra_headers`, timeouts,
/// keys, the `cache` directives — does not. `custom_llm_provider` and `api_base` are in it
/// because they choose which upstream answers; `api_key` never is (a secret).
pub const KEY_FIELDS: &[&str] = &[
    "temperature",
    "top_p",
    "n",
    "seed",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "reasoning",
    "verbosity",
    "response_format",
    "response_mode",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "custom_llm_provider",
    "api_base",
];

/// Version of the normalized form; bumped when it changes so old entries are not misread.
const KEY_VERSION: &str = "v1";

/// A cache key: `scillm:cache:v1:<sha256 hex>` (the same text in every backend).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of `request`.
    pub fn for_request(request: &ChatRequest) -> Self {
        let normalized = normalize(request);
        let digest = Sha256::digest(normalized.to_string().as_bytes());
        let mut key = format!("scillm:cache:{KEY_VERSION}:");
        for byte in digest {
            let _ = write!(key, "{byte:02x}");
        }
        Self(key)
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fields of `request` that decide its answer, as canonical JSON: object keys sorted,
/// `null` fields dropped (absent and `null` ask for the same thing), numbers written one
/// way (`0`, `0.0` and `0e0` are the same temperature).
pub fn normalize(request: &ChatRequest) -> Value {
    let full = request.to_value();
    let mut out = Map::new();
    out.insert("model".into(), Value::String(request.model.clone()));
    if let Some(messages) = full.get("messages") {
        out.insert("messages".into(), canonical(messages));
    }
    for field in KEY_FIELDS {
        match full.get(*field) {
            None | Some(Value::Null) => {}
            Some(v) => {
                out.insert((*field).to_owned(), canonical(v));
            }
        }
    }
    Value::Object(out)
}

/// `v` with object keys sorted and numbers in one form.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k.clone(), canonical(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Number(n) => canonical_number(n),
        other => other.clone(),
    }
}

/// Integers stay integers; a float with an integral value becomes that integer; other
/// floats are written by `f64`'s shortest round-trip form.
fn canonical_number(n: &serde_json::Number) -> Value {
    if n.is_i64() || n.is_u64() {
        return Value::Number(n.clone());
    }
    match n.as_f64() {
        // 2^53: every integer below it is exact in an f64.
        Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            Value::Number((f as i64).into())
        }
        Some(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        None => Value::Number(n.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    fn key(v: Value) -> CacheKey {
        CacheKey::for_request(&req(v))
    }

    #[test]
    fn key_ignores_field_order_stream_user_and_directives() {
        let a = key(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0
        }));
        let b = key(serde_json::json!({
            "temperature": 0.0, "stream": true, "user": "u-1", "cache": {"no-cache": true},
            "messages": [{"content": "hi", "role": "user"}], "model": "m",
            "metadata": {"run": 7}, "api_key": "sk-secret"
        }));
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("scillm:cache:v1:"));
        assert_eq!(a.as_str().len(), "scillm:cache:v1:".len() + 64);
    }

    #[test]
    fn key_changes_with_everything_that_decides_the_answer() {
        let base = serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}]
        });
        let k0 = key(base.clone());
        let variants = [
            ("model", serde_json::json!("m2")),
            (
                "messages",
                serde_json::json!([{"role": "user", "content": "hi!"}]),
            ),
            ("temperature", serde_json::json!(0.2)),
            ("top_p", serde_json::json!(0.5)),
            ("max_tokens", serde_json::json!(10)),
            ("seed", serde_json::json!(1)),
            ("stop", serde_json::json!(["\n"])),
            (
                "response_format",
                serde_json::json!({"type": "json_object"}),
            ),
            (
                "tools",
                serde_json::json!([{"type": "function", "function": {"name": "f"}}]),
            ),
            ("tool_choice", serde_json::json!("required")),
            ("reasoning_effort", serde_json::json!("high")),
            ("api_base", serde_json::json!("http://127.0.0.1:9")),
        ];
        for (field, value) in variants {
            let mut v = base.clone();
            v[field] = value;
            assert_ne!(key(v), k0, "{field} must change the key");
        }
    }

    #[test]
    fn content_parts_are_not_the_same_as_a_string() {
        let s =
            key(serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        let p = key(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
        );
        assert_ne!(s, p);
    }
}
