//! Errors an upstream sends inside a 2xx answer or a stream event (SPEC §11): a top-level
//! `error` (object or string), or a choice with `finish_reason: "error"`. Each is typed by
//! the status its `status` / `code` / `type` names, so it is retried exactly as that HTTP
//! status would be.

use serde_json::Value;

use crate::error::{excerpt, ErrorKind, ProviderError};

/// The error an answer carries, or `None` when it carries none.
///
/// The kind follows from the named status (429 → rate_limited, 5xx → server, 401/403 →
/// auth, 404 → not_found, other 4xx → bad_request) and, without one, from the names in
/// `type` / `code` ([`status_for_names`]); with neither it is `server`. The error's
/// `status` is the status named (when one is), its message the upstream's message.
pub fn in_band_error(value: &Value) -> Option<ProviderError> {
    let obj = value.as_object()?;
    if let Some(err @ (Value::Object(_) | Value::String(_))) = obj.get("error") {
        return Some(typed(err, obj));
    }
    let failed = obj
        .get("choices")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("finish_reason").and_then(Value::as_str) == Some("error"))?;
    let message = failed
        .pointer("/message/content")
        .or_else(|| failed.pointer("/delta/content"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("the upstream ended the answer with finish_reason \"error\"");
    Some(build(None, None, message))
}

/// The error an SSE `event: error` stands for: typed like [`in_band_error`] when its data
/// is JSON, else a `server` error carrying the text.
pub fn error_from_event(data: &str) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_str(data).ok();
    match parsed.as_ref() {
        Some(v @ Value::Object(o)) => in_band_error(v)
            .unwrap_or_else(|| typed(v, o))
            .with_body(data),
        _ => build(None, None, data.trim()).with_body(data),
    }
}

fn typed(err: &Value, top: &serde_json::Map<String, Value>) -> ProviderError {
    let message = match err {
        Value::String(s) => s.clone(),
        _ => err
            .get("message")
            .or_else(|| err.get("msg"))
            .or_else(|| err.get("detail"))
            .and_then(Value::as_str)
            .map_or_else(|| err.to_string(), str::to_string),
    };
    let field = |k: &str| err.get(k).or_else(|| top.get(k));
    let numeric = ["status", "code", "status_code"]
        .iter()
        .find_map(|k| field(k).and_then(status_number));
    let names: Vec<&str> = ["type", "code", "status"]
        .iter()
        .filter_map(|k| field(k).and_then(Value::as_str))
        .collect();
    let status = numeric.or_else(|| status_for_names(&names));
    build(
        status,
        Some(names.join("/")).filter(|s| !s.is_empty()),
        &message,
    )
}

fn build(status: Option<u16>, names: Option<String>, message: &str) -> ProviderError {
    let kind = status
        .and_then(ErrorKind::from_status)
        .unwrap_or(ErrorKind::Server);
    let named = names.map(|n| format!(" ({n})")).unwrap_or_default();
    let mut e = ProviderError::new(
        kind,
        format!(
            "upstream reported an error inside a successful answer{named}: {}",
            excerpt(message)
        ),
    );
    e.status = status;
    e
}

/// An HTTP error status (400–599) given as an integer or a numeric string.
fn status_number(v: &Value) -> Option<u16> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|s| (400..600).contains(s))
}

/// The HTTP status an error's `type` / `code` names stand for (OpenAI, vLLM, Azure,
/// LiteLLM and this project's own names), or `None` when none is recognised.
///
/// `rate_limit_error`, `rate_limit_exceeded`, `insufficient_quota` → 429; `overloaded`,
/// `service_unavailable` → 503; `timeout_error` → 504; `authentication_error`,
/// `invalid_api_key` → 401; `permission_error` → 403; `not_found_error`,
/// `model_not_found` → 404; `upstream_error` → 502; `invalid_request_error`,
/// `BadRequestError`, `context_length_exceeded` → 400; `server_error`,
/// `internal_error` → 500.
pub fn status_for_names(names: &[&str]) -> Option<u16> {
    const TABLE: &[(&str, u16)] = &[
        ("ratelimit", 429),
        ("toomanyrequests", 429),
        ("quota", 429),
        ("overloaded", 503),
        ("unavailable", 503),
        ("timeout", 504),
        ("authentication", 401),
        ("apikey", 401),
        ("unauthorized", 401),
        ("permission", 403),
        ("forbidden", 403),
        ("notfound", 404),
        ("upstream", 502),
        ("badrequest", 400),
        ("invalidrequest", 400),
        ("contextlength", 400),
        ("validation", 400),
        ("server", 500),
        ("internal", 500),
    ];
    names.iter().find_map(|name| {
        let squashed: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        TABLE
            .iter()
            .find(|(key, _)| squashed.contains(key))
            .map(|(_, status)| *status)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_inside_a_2xx_are_typed_by_what_they_name() {
        let cases = [
            (
                json!({"error": {"message": "slow down", "code": 429}}),
                ErrorKind::RateLimited,
                Some(429),
            ),
            (
                json!({"error": {"message": "busy", "code": "503"}}),
                ErrorKind::Server,
                Some(503),
            ),
            (
                json!({"error": {"message": "key", "type": "authentication_error"}}),
                ErrorKind::Auth,
                Some(401),
            ),
            (
                json!({"error": {"message": "q", "type": "insufficient_quota"}}),
                ErrorKind::RateLimited,
                Some(429),
            ),
            (
                json!({"error": {"message": "m", "code": "model_not_found"}}),
                ErrorKind::NotFound,
                Some(404),
            ),
            (
                json!({"error": {"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}}),
                ErrorKind::BadRequest,
                Some(400),
            ),
            (json!({"error": "model crashed"}), ErrorKind::Server, None),
            (
                json!({"error": {"message": "codex failed", "type": "upstream_error", "code": "codex_failed"}}),
                ErrorKind::Server,
                Some(502),
            ),
            (
                json!({"choices": [{"delta": {}, "finish_reason": "error"}]}),
                ErrorKind::Server,
                None,
            ),
        ];
        for (v, kind, status) in cases {
            let e = in_band_error(&v).unwrap_or_else(|| panic!("no error found in {v}"));
            assert_eq!((e.kind, e.status), (kind, status), "{v}");
        }
        let e = in_band_error(&json!({"error": {"message": "slow down", "code": 429}})).unwrap();
        assert!(e.message.ends_with("slow down"), "{}", e.message);
    }

    #[test]
    fn answers_without_an_error_are_left_alone() {
        for v in [
            json!({"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}]}),
            json!({"error": null, "choices": []}),
            json!([1, 2]),
        ] {
            assert!(in_band_error(&v).is_none(), "{v}");
        }
    }

    #[test]
    fn error_events_keep_the_message_and_type_it() {
        let e =
            error_from_event(r#"{"error":{"message":"codex exited 1","type":"upstream_error"}}"#);
        assert_eq!((e.kind, e.status), (ErrorKind::Server, Some(502)));
        assert!(e.message.ends_with("codex exited 1"));
        let e = error_from_event("plain text");
        assert_eq!((e.kind, e.status), (ErrorKind::Server, None));
        assert!(e.message.ends_with("plain text"));
    }
}
