//! Optional HTTP tools: `GET {base}/tools` lists them, `POST {base}/invoke` runs one.
//! Each invocation is one request: never retried, so a tool with side effects runs once.
//! The list is cached with a TTL (SPEC §15); answers are capped like exec output.

use std::sync::Arc;
use std::time::Duration;

use scillm_core::ApiBase;
use serde_json::{json, Map, Value};

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

/// How long a fetched tool list is used before it is fetched again.
pub const TOOL_LIST_TTL: Duration = Duration::from_secs(60);
/// How long a failed fetch is remembered (runs meanwhile go on without HTTP tools instead
/// of each waiting for the same dead server).
pub const TOOL_LIST_FAILURE_TTL: Duration = Duration::from_secs(5);
/// How long fetching the tool list may take.
pub const TOOL_LIST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a tool answer the model gets, in bytes (the exec tools' output cap).
pub const TOOL_ANSWER_CAP: usize = crate::sandbox::DEFAULT_OUTPUT_CAP;

type Listing = Arc<Result<Vec<HttpToolDef>, String>>;

/// Successes live [`TOOL_LIST_TTL`], failures [`TOOL_LIST_FAILURE_TTL`].
struct ListingExpiry;

impl moka::Expiry<(), Listing> for ListingExpiry {
    fn expire_after_create(
        &self,
        _key: &(),
        value: &Listing,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(if value.is_ok() {
            TOOL_LIST_TTL
        } else {
            TOOL_LIST_FAILURE_TTL
        })
    }
}

/// The client of a tool server. The tool list is cached (moka): concurrent runs share one
/// fetch, no lock is held while it runs, and `/healthz` only reads what is cached.
pub struct HttpTools {
    base: ApiBase,
    headers: Vec<(String, String)>,
    client: reqwest::Client,
    listing: moka::future::Cache<(), Listing>,
}

impl std::fmt::Debug for HttpTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values (often keys) are never shown.
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("HttpTools")
            .field("base", &self.base)
            .field("header_names", &names)
            .finish_non_exhaustive()
    }
}

impl HttpTools {
    /// A client of the tool server at `base`, sending `headers` with every request.
    pub fn new(base: ApiBase, headers: Vec<(String, String)>) -> Self {
        Self {
            base,
            headers,
            client: reqwest::Client::new(),
            listing: moka::future::Cache::builder()
                .max_capacity(1)
                .expire_after(ListingExpiry)
                .build(),
        }
    }

    /// The tools the server offers (an empty list, logged, when it cannot be reached).
    pub async fn list(&self) -> Vec<HttpToolDef> {
        let listing = self
            .listing
            .get_with((), async {
                let fetched = self.fetch().await;
                if let Err(e) = &fetched {
                    tracing::warn!(base = %self.base, error = %e, "cannot list HTTP tools; continuing without them");
                }
                Arc::new(fetched)
            })
            .await;
        listing.as_ref().clone().unwrap_or_default()
    }

    /// The cached tool names, without fetching (for `/healthz`).
    pub async fn cached_names(&self) -> Option<Vec<String>> {
        let listing = self.listing.get(&()).await?;
        listing
            .as_ref()
            .as_ref()
            .ok()
            .map(|defs| defs.iter().map(|d| d.name.clone()).collect())
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.client.request(method, self.base.join(path));
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req
    }

    async fn fetch(&self) -> Result<Vec<HttpToolDef>, String> {
        let resp = self
            .request(reqwest::Method::GET, "tools")
            .timeout(TOOL_LIST_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!(
                "GET /tools answered HTTP {}",
                resp.status().as_u16()
            ));
        }
        let body = read_capped(resp, MAX_TOOL_LIST_BYTES).await?;
        let body: Value = serde_json::from_slice(&body.0).map_err(|e| e.to_string())?;
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
            .request(reqwest::Method::POST, "invoke")
            .timeout(timeout)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return ToolOutput::error(format!("tool `{name}` timed out after {timeout:?}"))
            }
            Err(e) => {
                return ToolOutput::error(format!(
                    "tool `{name}` could not be reached: {}",
                    e.without_url()
                ))
            }
        };
        let status = resp.status();
        let is_json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let (bytes, truncated) = match read_capped(resp, TOOL_ANSWER_CAP).await {
            Ok(read) => read,
            Err(e) => {
                return ToolOutput::error(format!("tool `{name}`: reading the answer failed: {e}"))
            }
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            let shown: String = text.chars().take(ERROR_BODY_CHARS).collect();
            return ToolOutput::error(format!(
                "tool `{name}` answered HTTP {}: {shown}",
                status.as_u16()
            ));
        }
        let detail: Option<Value> = if is_json && !truncated {
            serde_json::from_str(&text).ok()
        } else {
            None
        };
        // A JSON answer is passed to the model as compact JSON; text as it is; an answer
        // over the cap is cut and says so.
        let content = match &detail {
            Some(v) => serde_json::to_string(v).unwrap_or(text),
            None if truncated => {
                format!("{text}\n[truncated: the tool answered more than {TOOL_ANSWER_CAP} bytes]")
            }
            None => text,
        };
        ToolOutput {
            ok: true,
            content,
            detail,
        }
    }
}

/// The largest tool list read, in bytes.
const MAX_TOOL_LIST_BYTES: usize = 1024 * 1024;

/// The body of `resp`, at most `cap` bytes (the rest is not read), and whether it was cut.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<(Vec<u8>, bool), String> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            return Ok((buf, true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, false))
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
