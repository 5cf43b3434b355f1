//! Optional HTTP tools: `GET {base}/tools` lists them, `POST {base}/invoke` runs one.
//! Each invocation is one request: never retried, so a tool with side effects runs once.

use std::time::Duration;

use scillm_core::ApiBase;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::ToolOutput;

/// How much of a failed invocation's body is shown to the model.
const ERROR_BODY_CHARS: usize = 400;

/// One tool offered by the tool server.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpToolDef {
    /// The function name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// The client of a tool server; the tool list is fetched once and kept after a success.
#[derive(Debug)]
pub struct HttpTools {
    base: ApiBase,
    client: reqwest::Client,
    cached: Mutex<Option<Vec<HttpToolDef>>>,
}

impl HttpTools {
    /// A client of the tool server at `base`.
    pub fn new(base: ApiBase) -> Self {
        Self {
            base,
            client: reqwest::Client::new(),
            cached: Mutex::new(None),
        }
    }

    /// The tools the server offers (an empty list, logged, when it cannot be reached).
    pub async fn list(&self) -> Vec<HttpToolDef> {
        let mut cached = self.cached.lock().await;
        if let Some(defs) = cached.as_ref() {
            return defs.clone();
        }
        match self.fetch().await {
            Ok(defs) => {
                *cached = Some(defs.clone());
                defs
            }
            Err(e) => {
                tracing::warn!(base = %self.base, error = %e, "cannot list HTTP tools; continuing without them");
                Vec::new()
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<HttpToolDef>, String> {
        let resp = self
            .client
            .get(self.base.join("tools"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!(
                "GET /tools answered HTTP {}",
                resp.status().as_u16()
            ));
        }
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        Ok(parse_tool_list(&body))
    }

    /// Invoke `name` with `arguments`: exactly one `POST {base}/invoke`.
    pub async fn invoke(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
        timeout: Duration,
    ) -> ToolOutput {
        let body = json!({ "name": name, "arguments": arguments });
        let resp = match self
            .client
            .post(self.base.join("invoke"))
            .timeout(timeout)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return ToolOutput::error(format!("tool `{name}` timed out after {timeout:?}"))
            }
            Err(e) => return ToolOutput::error(format!("tool `{name}` could not be reached: {e}")),
        };
        let status = resp.status();
        let is_json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return ToolOutput::error(format!("tool `{name}`: reading the answer failed: {e}"))
            }
        };
        if !status.is_success() {
            let shown: String = text.chars().take(ERROR_BODY_CHARS).collect();
            return ToolOutput::error(format!(
                "tool `{name}` answered HTTP {}: {shown}",
                status.as_u16()
            ));
        }
        let detail = if is_json {
            serde_json::from_str(&text).ok()
        } else {
            None
        };
        // A JSON answer is passed to the model as compact JSON; text as it is.
        let content = match &detail {
            Some(v) => serde_json::to_string(v).unwrap_or(text),
            None => text,
        };
        ToolOutput {
            ok: true,
            content,
            detail,
        }
    }
}

/// Tool definitions from a `/tools` answer: a list or `{"tools": [...]}`, each entry either
/// `{name, description?, parameters?}` or the OpenAI form `{type:"function", function:{…}}`.
pub fn parse_tool_list(body: &Value) -> Vec<HttpToolDef> {
    let list = body
        .as_array()
        .or_else(|| body.get("tools").and_then(Value::as_array))
        .or_else(|| body.get("data").and_then(Value::as_array));
    let Some(list) = list else { return Vec::new() };
    list.iter()
        .filter_map(|entry| {
            let f = entry.get("function").unwrap_or(entry);
            let name = f.get("name")?.as_str()?.to_string();
            Some(HttpToolDef {
                name,
                description: f
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                parameters: f
                    .get("parameters")
                    .or_else(|| f.get("input_schema"))
                    .cloned()
                    .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_wrapped_and_openai_lists() {
        let plain = json!([{ "name": "a", "description": "A" }]);
        let wrapped = json!({ "tools": [{ "type": "function", "function": { "name": "b", "parameters": { "type": "object" } } }] });
        assert_eq!(parse_tool_list(&plain)[0].name, "a");
        assert_eq!(parse_tool_list(&wrapped)[0].name, "b");
        assert!(parse_tool_list(&json!("nope")).is_empty());
    }
}
