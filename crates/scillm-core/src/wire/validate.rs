//! Checks a parsed [`ChatRequest`] must pass before a server acts on it. Parsing already
//! checked every typed field; these are the fields kept as raw JSON (so they round-trip
//! unchanged) plus the rule that a conversation has at least one message.

use serde_json::Value;

use super::message::json_type;
use super::ChatRequest;

/// Why a request is invalid: the offending parameter and what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRequest {
    /// The request field at fault (OpenAI's `param`).
    pub param: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(param: &'static str, message: String) -> InvalidRequest {
    InvalidRequest { param, message }
}

/// The `response_format` types OpenAI documents.
const RESPONSE_FORMATS: &[&str] = &["text", "json_object", "json_schema"];

impl ChatRequest {
    /// Check what parsing cannot: `messages` is not empty, and `response_format`, `tools`,
    /// `tool_choice`, `reasoning_effort` and `reasoning` have their documented shapes
    /// (an explicit `null` counts as absent). Unknown vendor fields are not looked at.
    ///
    /// ```
    /// use scillm_core::wire::{ChatRequest, Message};
    ///
    /// let mut req = ChatRequest::new("gpt-5", vec![Message::user("hi")]);
    /// assert!(req.validate().is_ok());
    /// req.response_format = Some(serde_json::json!("json"));
    /// assert_eq!(req.validate().unwrap_err().param, "response_format");
    /// ```
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        if self.messages.is_empty() {
            return Err(invalid(
                "messages",
                "`messages` must contain at least one message".into(),
            ));
        }
        if let Some(rf) = &self.response_format {
            check_response_format(rf)?;
        }
        if let Some(tools) = &self.tools {
            if let Some((i, t)) = tools.iter().enumerate().find(|(_, t)| !t.is_object()) {
                return Err(invalid(
                    "tools",
                    format!("`tools[{i}]` must be an object, not {}", json_type(t)),
                ));
            }
        }
        check_shape(
            "tool_choice",
            &self.tool_choice,
            |v| v.is_string() || v.is_object(),
            "a string or an object",
        )?;
        check_shape(
            "reasoning_effort",
            &self.reasoning_effort,
            Value::is_string,
            "a string such as \"low\", \"medium\" or \"high\"",
        )?;
        check_shape(
            "reasoning",
            &self.reasoning,
            Value::is_object,
            "an object such as {\"effort\":\"high\"}",
        )?;
        Ok(())
    }
}

/// `value`, when present and not `null`, must pass `ok`; else say it should be `wanted`.
fn check_shape(
    param: &'static str,
    value: &Option<Value>,
    ok: fn(&Value) -> bool,
    wanted: &str,
) -> Result<(), InvalidRequest> {
    match value.as_ref().filter(|v| !v.is_null() && !ok(v)) {
        Some(v) => Err(invalid(
            param,
            format!("`{param}` must be {wanted}, not {}", json_type(v)),
        )),
        None => Ok(()),
    }
}

fn check_response_format(rf: &Value) -> Result<(), InvalidRequest> {
    let param = "response_format";
    if rf.is_null() {
        return Ok(());
    }
    let Some(obj) = rf.as_object() else {
        return Err(invalid(
            param,
            format!(
                "`response_format` must be an object such as {{\"type\":\"json_object\"}}, not {}",
                json_type(rf)
            ),
        ));
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("json_schema") if !obj.get("json_schema").is_some_and(Value::is_object) => {
            Err(invalid(
                param,
                "`response_format` of type json_schema needs a `json_schema` object".into(),
            ))
        }
        Some(t) if RESPONSE_FORMATS.contains(&t) => Ok(()),
        _ => Err(invalid(
            param,
            format!(
                "`response_format.type` must be one of {}",
                RESPONSE_FORMATS.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;
    use serde_json::json;

    fn with(field: &str, value: Value) -> ChatRequest {
        let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        v[field] = value;
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn accepts_documented_shapes_and_nulls() {
        for (f, v) in [
            ("response_format", json!({"type": "json_object"})),
            (
                "response_format",
                json!({"type": "json_schema", "json_schema": {"name": "x"}}),
            ),
            ("response_format", Value::Null),
            (
                "tools",
                json!([{"type": "function", "function": {"name": "f"}}]),
            ),
            ("tool_choice", json!("auto")),
            ("tool_choice", json!({"type": "function"})),
            ("reasoning_effort", json!("high")),
            ("reasoning", json!({"effort": "low"})),
            ("x_vendor", json!([1, "two"])),
        ] {
            assert_eq!(with(f, v.clone()).validate(), Ok(()), "{f}: {v}");
        }
    }

    #[test]
    fn names_the_bad_field() {
        for (f, v) in [
            ("response_format", json!("json")),
            ("response_format", json!({"type": "xml"})),
            ("response_format", json!({"type": "json_schema"})),
            ("tools", json!([1])),
            ("tool_choice", json!(1)),
            ("reasoning_effort", json!(2)),
            ("reasoning", json!("high")),
        ] {
            assert_eq!(with(f, v.clone()).validate().unwrap_err().param, f, "{v}");
        }
        let empty = ChatRequest::new("m", Vec::<Message>::new());
        assert_eq!(empty.validate().unwrap_err().param, "messages");
    }
}
