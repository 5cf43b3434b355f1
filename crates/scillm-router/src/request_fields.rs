//! Reading the routing keys of a raw request item (`kwargs`, strings, `extra_headers`):
//! the helpers of [`crate::request::RouterRequest::from_value`], each error an
//! `invalid_request` naming the key.

use scillm_core::{ErrorKind, ProviderError};
use serde_json::{Map, Value};

use crate::request::CallerHeaders;

/// Move the keys of a `kwargs` object into the item.
pub(crate) fn merge_kwargs(map: &mut Map<String, Value>) -> Result<(), ProviderError> {
    let kwargs = match map.remove("kwargs") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(k)) => k,
        Some(other) => {
            return Err(invalid(format!(
                "kwargs must be an object, not {}",
                type_name(&other)
            )))
        }
    };
    for (k, v) in kwargs {
        match map.get(&k) {
            Some(existing) if *existing != v => {
                return Err(invalid(format!(
                    "`{k}` is given both in kwargs and beside model with different values; give it once"
                )))
            }
            Some(_) => {}
            None => {
                map.insert(k, v);
            }
        }
    }
    Ok(())
}

pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, message)
}

pub(crate) fn take_string(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ProviderError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(format!(
            "{key} must be a string, not {}",
            type_name(&other)
        ))),
    }
}

/// `extra_headers`: an object of header name → string value (numbers and booleans are
/// written as text, as the OpenAI SDKs do).
pub(crate) fn take_headers(map: &mut Map<String, Value>) -> Result<CallerHeaders, ProviderError> {
    let obj = match map.remove("extra_headers") {
        None | Some(Value::Null) => return Ok(CallerHeaders::default()),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(invalid(format!(
                "extra_headers must be an object of header name to string value, not {}",
                type_name(&other)
            )))
        }
    };
    let mut out = Vec::with_capacity(obj.len());
    for (name, value) in obj {
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(invalid(format!(
                    "extra_headers[\"{name}\"] must be a string, not {}",
                    type_name(&other)
                )))
            }
        };
        out.push((name, value));
    }
    Ok(CallerHeaders(out))
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
