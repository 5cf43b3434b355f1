//! One router request item: a [`ChatRequest`] plus the per-request routing keys, and its
//! parsing from a raw JSON value (one line of a batch file).

use std::time::Duration;

use scillm_core::secrecy::SecretString;
use scillm_core::wire::ChatRequest;
use scillm_core::{ApiBase, ProviderError};
use serde_json::Value;

use crate::request_fields::{invalid, merge_kwargs, take_headers, take_string, type_name};

/// Keys of a raw item that the router consumes; everything else is the chat request.
pub const ROUTER_KEYS: &[&str] = &[
    "custom_llm_provider",
    "api_base",
    "api_key",
    "response_mode",
    "json_schema",
    "timeout",
    "kwargs",
    "extra_headers",
];

/// How the router asks for structured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Ask for `response_format: json_schema` with the item's `json_schema`; on failure
    /// retry once with `response_format: json_object` (`fallback_used`).
    SchemaFirst,
}

impl ResponseMode {
    /// Parse the `response_mode` value of a raw item.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "schema_first" => Some(ResponseMode::SchemaFirst),
            _ => None,
        }
    }

    /// The wire name (`schema_first`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::SchemaFirst => "schema_first",
        }
    }
}

/// A chat request plus the per-request routing keys.
///
/// Build one in code with [`RouterRequest::new`] and the `with_*` methods, or from a raw
/// JSON object with [`RouterRequest::from_value`] (the router keys sit beside `model` and
/// `messages`, as in a batch line).
#[derive(Debug, Clone)]
pub struct RouterRequest {
    /// The OpenAI request sent upstream (after routing changes such as `response_format`).
    pub request: ChatRequest,
    /// Call this provider directly (with `api_base`/`api_key`) instead of resolving the model.
    pub custom_llm_provider: Option<String>,
    /// A base overriding the provider's or deployment's for this request.
    pub api_base: Option<ApiBase>,
    /// A key overriding the provider's or deployment's for this request.
    pub api_key: Option<SecretString>,
    /// Structured-output mode.
    pub response_mode: Option<ResponseMode>,
    /// The JSON Schema the answer must satisfy (a bare schema, or an OpenAI
    /// `{"name":…,"schema":…}` wrapper).
    pub json_schema: Option<Value>,
    /// A timeout for this request overriding the parallel/router one.
    pub timeout: Option<Duration>,
    /// Headers sent upstream with this request (`extra_headers`, SPEC §13); hop-by-hop
    /// headers are dropped by the provider. Values never appear in Debug output.
    pub headers: CallerHeaders,
}

/// Caller headers (name, value) for the upstream call; Debug shows the names only, as
/// values may be credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CallerHeaders(pub Vec<(String, String)>);

impl std::fmt::Debug for CallerHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(n, _)| n))
            .finish()
    }
}

impl RouterRequest {
    /// An item for `request` with no routing keys.
    pub fn new(request: ChatRequest) -> Self {
        Self {
            request,
            custom_llm_provider: None,
            api_base: None,
            api_key: None,
            response_mode: None,
            json_schema: None,
            timeout: None,
            headers: CallerHeaders::default(),
        }
    }

    /// Send header `name: value` upstream with this request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.0.push((name.into(), value.into()));
        self
    }

    /// Call `provider` directly.
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.custom_llm_provider = Some(provider.into());
        self
    }

    /// Override the base for this request.
    pub fn with_api_base(mut self, base: ApiBase) -> Self {
        self.api_base = Some(base);
        self
    }

    /// Override the key for this request.
    pub fn with_api_key(mut self, key: SecretString) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Schema-first mode with `schema`.
    pub fn schema_first(mut self, schema: Value) -> Self {
        self.response_mode = Some(ResponseMode::SchemaFirst);
        self.json_schema = Some(schema);
        self
    }

    /// A timeout for this request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Parse a raw item: an object with `model`, `messages` and any other chat fields, plus
    /// the router keys [`ROUTER_KEYS`]. Errors are `invalid_request` and say what is wrong.
    ///
    /// The Python original's form `{"model", "messages", "kwargs": {…}}` is accepted:
    /// the `kwargs` object's keys (routing keys included) join the item; a key given both
    /// there and beside `model` with different values is an error (SPEC §13).
    pub fn from_value(value: Value) -> Result<Self, ProviderError> {
        let Value::Object(mut map) = value else {
            return Err(invalid(format!(
                "a request item must be a JSON object, not {}",
                type_name(&value)
            )));
        };
        merge_kwargs(&mut map)?;
        let custom_llm_provider = take_string(&mut map, "custom_llm_provider")?;
        let api_base = take_string(&mut map, "api_base")?
            .map(|raw| ApiBase::parse(&raw).map_err(|e| invalid(format!("api_base: {e}"))))
            .transpose()?;
        let api_key = take_string(&mut map, "api_key")?.map(SecretString::from);
        let response_mode = take_string(&mut map, "response_mode")?
            .map(|raw| {
                ResponseMode::parse(&raw).ok_or_else(|| {
                    invalid(format!(
                        "response_mode `{raw}` is not supported; use \"schema_first\""
                    ))
                })
            })
            .transpose()?;
        let json_schema = match map.remove("json_schema") {
            None | Some(Value::Null) => None,
            Some(v @ (Value::Object(_) | Value::Bool(_))) => Some(v),
            Some(other) => {
                return Err(invalid(format!(
                    "json_schema must be an object, not {}",
                    type_name(&other)
                )))
            }
        };
        let timeout = match map.remove("timeout") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s.min(1.0e9))),
                _ => {
                    return Err(invalid(format!(
                        "timeout must be a positive number of seconds, not {n}"
                    )))
                }
            },
            Some(other) => {
                return Err(invalid(format!(
                    "timeout must be a number of seconds, not {}",
                    type_name(&other)
                )))
            }
        };
        let headers = take_headers(&mut map)?;
        if response_mode.is_some() && json_schema.is_none() {
            return Err(invalid(
                "response_mode \"schema_first\" needs a json_schema".to_string(),
            ));
        }
        let request: ChatRequest = serde_json::from_value(Value::Object(map))
            .map_err(|e| invalid(format!("not a valid chat request: {e}")))?;
        if request.model.trim().is_empty() {
            return Err(invalid("model must not be empty".to_string()));
        }
        Ok(Self {
            request,
            custom_llm_provider,
            api_base,
            api_key,
            response_mode,
            json_schema,
            timeout,
            headers,
        })
    }
}

impl From<ChatRequest> for RouterRequest {
    fn from(request: ChatRequest) -> Self {
        Self::new(request)
    }
}

/// One input of [`crate::Router::parallel`]: a built request, a raw JSON item still to be
/// parsed, or an item already known to be invalid (e.g. a batch line that is not JSON).
///
/// Whatever the variant, the item gets exactly one result in its slot.
#[derive(Debug, Clone)]
pub enum RequestItem {
    /// A request built in code.
    Ready(Box<RouterRequest>),
    /// A raw JSON item, parsed when it runs.
    Raw(Value),
    /// An item that could not be read; the message becomes the result's `exception`.
    Invalid(String),
}

impl RequestItem {
    /// An item from one line of a JSONL file: `Raw` when it parses, else `Invalid`.
    pub fn from_json_line(line: &str) -> Self {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => RequestItem::Raw(v),
            Err(e) => RequestItem::Invalid(format!("line is not valid JSON: {e}")),
        }
    }

    /// The item as a request, or the `invalid_request` error for its slot.
    pub fn into_request(self) -> Result<RouterRequest, ProviderError> {
        match self {
            RequestItem::Ready(r) => Ok(*r),
            RequestItem::Raw(v) => RouterRequest::from_value(v),
            RequestItem::Invalid(msg) => Err(invalid(msg)),
        }
    }

    /// The model the item names, when it can be read without parsing all of it.
    pub fn model_hint(&self) -> Option<String> {
        match self {
            RequestItem::Ready(r) => Some(r.request.model.clone()),
            RequestItem::Raw(v) => v.get("model").and_then(Value::as_str).map(str::to_string),
            RequestItem::Invalid(_) => None,
        }
    }
}

/// The checks every server makes before acting on a request ([`ChatRequest::validate`]:
/// `messages` not empty, `response_format`, `tools`, `tool_choice` shapes), as the
/// `invalid_request` error of an item, so a batch line or a library call the gateway would
/// refuse with 400 is never sent upstream. Run after schema-first mode has set
/// `response_format` from the item's `json_schema`.
pub fn validate(request: &ChatRequest) -> Result<(), ProviderError> {
    request.validate().map_err(|e| invalid(e.message))
}

impl From<RouterRequest> for RequestItem {
    fn from(r: RouterRequest) -> Self {
        RequestItem::Ready(Box::new(r))
    }
}

impl From<ChatRequest> for RequestItem {
    fn from(r: ChatRequest) -> Self {
        RequestItem::Ready(Box::new(RouterRequest::new(r)))
    }
}

impl From<Value> for RequestItem {
    fn from(v: Value) -> Self {
        RequestItem::Raw(v)
    }
}

impl From<Result<RouterRequest, ProviderError>> for RequestItem {
    fn from(r: Result<RouterRequest, ProviderError>) -> Self {
        match r {
            Ok(r) => r.into(),
            Err(e) => RequestItem::Invalid(e.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scillm_core::ErrorKind;
    use serde_json::json;

    #[test]
    fn a_raw_item_splits_router_keys_from_the_chat_request() {
        let item = RouterRequest::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "custom_llm_provider": "codex-agent", "api_base": "http://127.0.0.1:8077/",
            "api_key": "sk-x", "response_mode": "schema_first",
            "json_schema": {"type": "object"}, "timeout": 2.5, "vendor_x": 1,
            "extra_headers": {"X-Trace": "t-1", "X-Secret": "s3cr3t"}
        }))
        .unwrap();
        let mut headers = item.headers.0.clone();
        headers.sort();
        assert_eq!(
            headers,
            vec![
                ("X-Secret".to_string(), "s3cr3t".to_string()),
                ("X-Trace".to_string(), "t-1".to_string())
            ]
        );
        assert!(!format!("{item:?}").contains("s3cr3t"));
        assert_eq!(item.custom_llm_provider.as_deref(), Some("codex-agent"));
        assert_eq!(item.api_base.unwrap().as_str(), "http://127.0.0.1:8077");
        assert!(item.api_key.is_some());
        assert_eq!(item.response_mode, Some(ResponseMode::SchemaFirst));
        assert_eq!(item.timeout, Some(Duration::from_millis(2500)));
        let sent = item.request.to_value();
        assert_eq!(sent["vendor_x"], 1);
        for k in ROUTER_KEYS {
            assert!(sent.get(*k).is_none(), "{k} leaked upstream");
        }
    }

    #[test]
    fn malformed_items_are_invalid_request_errors() {
        let cases = [
            json!("just a string"),
            json!({"messages": []}),
            json!({"model": "m", "messages": "no"}),
            json!({"model": "m", "messages": [], "api_base": "http://x:1/v1"}),
            json!({"model": "m", "messages": [], "response_mode": "nope"}),
            json!({"model": "m", "messages": [], "response_mode": "schema_first"}),
            json!({"model": "", "messages": []}),
            json!({"model": "m", "messages": [], "timeout": -1}),
            json!({"model": "m", "messages": [], "extra_headers": "X-A: 1"}),
            json!({"model": "m", "messages": [], "extra_headers": {"X-A": {"v": 1}}}),
        ];
        for c in cases {
            let e = RouterRequest::from_value(c.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{c}");
        }
        let e = RouterRequest::from_value(
            json!({"model":"m","messages":[],"api_base":"http://x:1/v1"}),
        )
        .unwrap_err();
        assert!(e.message.contains("http://x:1"), "{}", e.message);
    }

    #[test]
    fn the_python_kwargs_form_merges_into_the_item() {
        let item = RouterRequest::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "kwargs": {"custom_llm_provider": "codex-agent", "api_base": "http://127.0.0.1:8077",
                "api_key": "sk-x", "temperature": 0.5, "max_tokens": 7}
        }))
        .unwrap();
        assert_eq!(item.custom_llm_provider.as_deref(), Some("codex-agent"));
        assert_eq!(item.api_base.unwrap().as_str(), "http://127.0.0.1:8077");
        assert!(item.api_key.is_some());
        assert_eq!(item.request.max_tokens, Some(7));
        let sent = item.request.to_value();
        assert_eq!(sent["temperature"], 0.5);
        assert!(sent.get("kwargs").is_none());
        let clash = RouterRequest::from_value(json!({
            "model": "m", "messages": [], "kwargs": {"model": "other"}
        }))
        .unwrap_err();
        assert!(clash.message.contains("`model`"), "{}", clash.message);
        let bad = RouterRequest::from_value(json!({"model": "m", "messages": [], "kwargs": 3}));
        assert_eq!(bad.unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn a_non_json_line_is_an_invalid_item() {
        let item = RequestItem::from_json_line("{not json");
        assert!(matches!(item, RequestItem::Invalid(_)));
        assert_eq!(
            item.into_request().unwrap_err().kind,
            ErrorKind::InvalidRequest
        );
    }
}
