//! Structured output (SPEC §12): Codex accepts only strict JSON schemas, so a strict
//! `response_format.json_schema.schema` is sent natively (`outputSchema` /
//! `--output-schema`) and any other schema is put into the prompt. The answer says which
//! with the response header [`SCHEMA_MODE_HEADER`].

use serde_json::Value;

/// Response header naming how a requested schema reached Codex: `native` or `prompt`.
pub const SCHEMA_MODE_HEADER: &str = "x-codex-schema-mode";

/// How the schema reached Codex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaMode {
    /// As the turn's output schema (the model gets it as a strict `json_schema` format).
    Native,
    /// As text in the prompt.
    Prompt,
}

impl SchemaMode {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Prompt => "prompt",
        }
    }
}

/// A schema a request asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    /// The JSON schema.
    pub schema: Value,
    /// Where it goes.
    pub mode: SchemaMode,
}

impl OutputSchema {
    /// The schema of `response_format` when it is `{"type":"json_schema","json_schema":{"schema":…}}`.
    pub fn from_response_format(response_format: Option<&Value>) -> Option<Self> {
        let rf = response_format?;
        if rf.get("type").and_then(Value::as_str) != Some("json_schema") {
            return None;
        }
        let schema = rf.get("json_schema")?.get("schema")?.clone();
        let mode = if is_strict(&schema) {
            SchemaMode::Native
        } else {
            SchemaMode::Prompt
        };
        Some(Self { schema, mode })
    }

    /// The schema sent natively, if it is.
    pub fn native(&self) -> Option<&Value> {
        (self.mode == SchemaMode::Native).then_some(&self.schema)
    }

    /// The text appended to the prompt in prompt mode (empty in native mode).
    pub fn prompt_suffix(&self) -> String {
        match self.mode {
            SchemaMode::Native => String::new(),
            SchemaMode::Prompt => format!(
                "\n\nAnswer with only a JSON value (no prose, no code fence) that conforms to this JSON schema:\n{}",
                self.schema
            ),
        }
    }
}

/// Whether `schema` is strict in OpenAI's sense: every object schema has
/// `additionalProperties: false` and lists every property in `required`, recursively
/// (properties, items, `anyOf`/`oneOf`/`allOf`, `$defs`/`definitions`).
pub fn is_strict(schema: &Value) -> bool {
    let Value::Object(obj) = schema else {
        // `true`/`false` schemas and other non-objects have no object shape to close.
        return !schema.is_boolean() || schema == &Value::Bool(false);
    };
    let is_object = obj.get("type").is_some_and(|t| {
        t.as_str() == Some("object")
            || t.as_array()
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("object")))
    }) || obj.contains_key("properties");
    if is_object {
        if obj.get("additionalProperties") != Some(&Value::Bool(false)) {
            return false;
        }
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(props) = props {
            if !props.keys().all(|k| required.contains(&k.as_str())) {
                return false;
            }
            if !props.values().all(is_strict) {
                return false;
            }
        }
    }
    let nested_one = ["items", "not"];
    let nested_many = ["anyOf", "oneOf", "allOf", "prefixItems"];
    let nested_map = ["$defs", "definitions"];
    nested_one.iter().filter_map(|k| obj.get(*k)).all(is_strict)
        && nested_many
            .iter()
            .filter_map(|k| obj.get(*k).and_then(Value::as_array))
            .flatten()
            .all(is_strict)
        && nested_map
            .iter()
            .filter_map(|k| obj.get(*k).and_then(Value::as_object))
            .flat_map(|m| m.values())
            .all(is_strict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strictness() {
        let strict = json!({"type": "object", "additionalProperties": false,
            "properties": {"a": {"type": "string"},
                           "b": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                                  "properties": {"c": {"type": "integer"}}, "required": ["c"]}}},
            "required": ["a", "b"]});
        assert!(is_strict(&strict));
        let mut open = strict.clone();
        open["additionalProperties"] = json!(true);
        assert!(!is_strict(&open));
        let mut optional = strict.clone();
        optional["required"] = json!(["a"]);
        assert!(!is_strict(&optional));
        let mut nested = strict.clone();
        nested["properties"]["b"]["items"]["required"] = json!([]);
        assert!(!is_strict(&nested));
        assert!(is_strict(&json!({"type": "string"})));
        let rf = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": strict}});
        assert_eq!(
            OutputSchema::from_response_format(Some(&rf)).unwrap().mode,
            SchemaMode::Native
        );
        let rf = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": open}});
        let s = OutputSchema::from_response_format(Some(&rf)).unwrap();
        assert_eq!(s.mode, SchemaMode::Prompt);
        assert!(s.prompt_suffix().contains("JSON schema"));
        assert!(OutputSchema::from_response_format(Some(&json!({"type": "text"}))).is_none());
    }
}
