//! JSON and JSON-Schema checks on an answer's content, and the `response_format` values
//! schema-first mode sends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use jsonschema::Validator;
use moka::sync::Cache;
use scillm_core::wire::ChatRequest;
use scillm_core::{ErrorKind, ProviderError};
use serde_json::{json, Value};

use crate::request::{ResponseMode, RouterRequest};

/// Schema violations kept per result at most.
const MAX_SCHEMA_ERRORS: usize = 20;

/// Distinct schemas kept compiled at once (least recently used ones are dropped past it).
const SCHEMA_CACHE_CAPACITY: u64 = 1024;

/// Compiled schemas keyed by the schema's JSON text, shared by every router in the
/// process: a batch whose lines share a schema compiles it once (SPEC §14).
static SCHEMAS: LazyLock<Cache<String, Arc<Validator>>> =
    LazyLock::new(|| Cache::new(SCHEMA_CACHE_CAPACITY));

/// Schemas compiled so far by this process.
static COMPILATIONS: AtomicU64 = AtomicU64::new(0);

/// How many JSON Schemas this process has compiled (cache misses of the compiled-schema
/// cache); a batch of items sharing one schema adds 1.
pub fn schema_compilations() -> u64 {
    COMPILATIONS.load(Ordering::Relaxed)
}

/// What JSON the item asked for, with its compiled schema.
pub struct JsonExpectation {
    /// `schema_first`, `json_schema` or `json_object`.
    pub mode: &'static str,
    /// The compiled schema, when there is one (shared with every item using that schema).
    pub validator: Option<Arc<Validator>>,
}

impl std::fmt::Debug for JsonExpectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonExpectation")
            .field("mode", &self.mode)
            .field("has_schema", &self.validator.is_some())
            .finish()
    }
}

/// The outcome of checking one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonOutcome {
    /// The content parses as JSON.
    pub json_valid: bool,
    /// The content satisfies the schema (`None` without a schema or when it does not parse).
    pub schema_valid: Option<bool>,
    /// Violations, `"{path}: {message}"`.
    pub schema_errors: Vec<String>,
}

impl JsonOutcome {
    /// Whether the answer passed.
    pub fn passed(&self) -> bool {
        self.json_valid && self.schema_valid != Some(false)
    }
}

impl JsonExpectation {
    /// What `item` asks for: `None` when it asks for no JSON. An uncompilable schema is an
    /// `invalid_request` error.
    pub fn for_item(item: &RouterRequest) -> Result<Option<Self>, ProviderError> {
        if item.response_mode == Some(ResponseMode::SchemaFirst) {
            let schema = item.json_schema.as_ref().map(bare_schema);
            return Ok(Some(Self {
                mode: "schema_first",
                validator: schema.map(compile).transpose()?,
            }));
        }
        let Some(rf) = item.request.response_format.as_ref() else {
            // A schema given without a mode is still checked.
            return Ok(match item.json_schema.as_ref() {
                Some(s) => Some(Self {
                    mode: "json_schema",
                    validator: Some(compile(bare_schema(s))?),
                }),
                None => None,
            });
        };
        match rf.get("type").and_then(Value::as_str) {
            Some("json_object") => Ok(Some(Self {
                mode: "json_object",
                validator: item
                    .json_schema
                    .as_ref()
                    .map(|s| compile(bare_schema(s)))
                    .transpose()?,
            })),
            Some("json_schema") => {
                let schema = rf
                    .get("json_schema")
                    .map(bare_schema)
                    .or_else(|| item.json_schema.as_ref().map(bare_schema));
                Ok(Some(Self {
                    mode: "json_schema",
                    validator: schema.map(compile).transpose()?,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Check `content` (kept verbatim; surrounding whitespace is ignored for parsing).
    pub fn check(&self, content: &str) -> JsonOutcome {
        let Ok(value) = serde_json::from_str::<Value>(content.trim()) else {
            return JsonOutcome {
                json_valid: false,
                schema_valid: None,
                schema_errors: Vec::new(),
            };
        };
        let Some(validator) = &self.validator else {
            return JsonOutcome {
                json_valid: true,
                schema_valid: None,
                schema_errors: Vec::new(),
            };
        };
        let schema_errors: Vec<String> = validator
            .iter_errors(&value)
            .take(MAX_SCHEMA_ERRORS)
            .map(|e| {
                let path = e.instance_path.to_string();
                let path = if path.is_empty() {
                    "/".to_string()
                } else {
                    path
                };
                format!("{path}: {e}")
            })
            .collect();
        JsonOutcome {
            json_valid: true,
            schema_valid: Some(schema_errors.is_empty()),
            schema_errors,
        }
    }
}

/// The schema itself, whether given bare or as an OpenAI `{"name","schema",…}` wrapper.
fn bare_schema(v: &Value) -> &Value {
    match v.get("schema") {
        Some(inner @ (Value::Object(_) | Value::Bool(_)))
            if v.get("name").is_some() || v.get("strict").is_some() =>
        {
            inner
        }
        _ => v,
    }
}

/// The compiled `schema`, from the cache when it was compiled before. An invalid schema is
/// not cached (its error is cheap to find again and says what to fix).
fn compile(schema: &Value) -> Result<Arc<Validator>, ProviderError> {
    // `try_get_with` runs the compilation once per key even when many items ask at once.
    SCHEMAS
        .try_get_with(schema.to_string(), || {
            COMPILATIONS.fetch_add(1, Ordering::Relaxed);
            jsonschema::validator_for(schema)
                .map(Arc::new)
                .map_err(|e| {
                    ProviderError::new(
                        ErrorKind::InvalidRequest,
                        format!("json_schema is not a valid JSON Schema: {e}"),
                    )
                })
        })
        .map_err(|e| (*e).clone())
}

/// Set the schema-first `response_format` (`json_schema`) on `request`.
pub fn set_schema_format(request: &mut ChatRequest, schema: &Value) {
    let wrapper = if schema.get("schema").is_some() && schema.get("name").is_some() {
        schema.clone()
    } else {
        json!({"name": "response", "schema": schema})
    };
    request.response_format = Some(json!({"type": "json_schema", "json_schema": wrapper}));
}

/// Set the fallback `response_format` (`json_object`) on `request`.
pub fn set_json_object_format(request: &mut ChatRequest) {
    request.response_format = Some(json!({"type": "json_object"}));
}

#[cfg(test)]
mod tests {
    use super::*;
    use scillm_core::wire::Message;

    fn item(v: Value) -> RouterRequest {
        RouterRequest::from_value(v).unwrap()
    }

    #[test]
    fn no_json_asked_means_no_expectation() {
        let it = item(json!({"model": "m", "messages": []}));
        assert!(JsonExpectation::for_item(&it).unwrap().is_none());
        let it = item(json!({"model": "m", "messages": [], "response_format": {"type": "text"}}));
        assert!(JsonExpectation::for_item(&it).unwrap().is_none());
    }

    #[test]
    fn schema_first_checks_parse_and_schema() {
        let schema =
            json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}});
        let it = RouterRequest::new(ChatRequest::new("m", vec![Message::user("x")]))
            .schema_first(schema);
        let exp = JsonExpectation::for_item(&it).unwrap().unwrap();
        assert_eq!(exp.mode, "schema_first");
        let bad = exp.check("shim ok");
        assert!(!bad.json_valid && !bad.passed());
        let wrong = exp.check(r#"{"a": "nope"}"#);
        assert!(wrong.json_valid);
        assert_eq!(wrong.schema_valid, Some(false));
        assert!(
            wrong.schema_errors[0].starts_with("/a:"),
            "{:?}",
            wrong.schema_errors
        );
        let good = exp.check(" {\"a\": 1}\n");
        assert!(good.passed());
        assert_eq!(good.schema_valid, Some(true));
    }

    #[test]
    fn response_format_json_schema_is_checked_against_its_schema() {
        let it = item(json!({"model": "m", "messages": [], "response_format": {
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "array"}}}}));
        let exp = JsonExpectation::for_item(&it).unwrap().unwrap();
        assert_eq!(exp.mode, "json_schema");
        assert_eq!(exp.check("{}").schema_valid, Some(false));
        assert!(exp.check("[]").passed());
        let it =
            item(json!({"model": "m", "messages": [], "response_format": {"type": "json_object"}}));
        let exp = JsonExpectation::for_item(&it).unwrap().unwrap();
        assert!(exp.check("{}").passed());
        assert_eq!(exp.check("{}").schema_valid, None);
    }

    #[test]
    fn one_compilation_per_distinct_schema() {
        let schema = json!({"type": "object", "properties": {"unique_to_this_test": {}}});
        let compiled: Vec<Arc<Validator>> = (0..50)
            .map(|_| {
                let it =
                    RouterRequest::new(ChatRequest::new("m", vec![])).schema_first(schema.clone());
                let exp = JsonExpectation::for_item(&it).unwrap().unwrap();
                assert!(exp.check("{}").passed());
                exp.validator.unwrap()
            })
            .collect();
        // Every item got the one compiled validator (tests of this binary may compile other
        // schemas at the same time, so the process-wide counter is checked elsewhere).
        assert!(compiled.iter().all(|v| Arc::ptr_eq(v, &compiled[0])));
        assert!(schema_compilations() >= 1);
    }

    #[test]
    fn an_invalid_schema_is_an_invalid_request() {
        let it =
            RouterRequest::new(ChatRequest::new("m", vec![])).schema_first(json!({"type": 12}));
        let e = JsonExpectation::for_item(&it).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn schema_first_format_wraps_a_bare_schema() {
        let mut r = ChatRequest::new("m", vec![]);
        set_schema_format(&mut r, &json!({"type": "object"}));
        let rf = r.response_format.clone().unwrap();
        assert_eq!(rf["type"], "json_schema");
        assert_eq!(rf["json_schema"]["schema"]["type"], "object");
        set_json_object_format(&mut r);
        assert_eq!(r.response_format.unwrap()["type"], "json_object");
    }
}
