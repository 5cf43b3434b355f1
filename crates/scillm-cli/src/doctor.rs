//! The verification checklist shared by `scillm doctor` and `cargo xtask verify`: the
//! runbook's 30-second checks, one line each, blocking or warn-only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scillm_core::config::ConfigLoader;
use scillm_core::wire::{ChatRequest, Content, ContentPart, Message};
use scillm_core::{registry, ApiBase, Config};
use scillm_router::{ParallelOptions, RequestItem, Router, RouterRequest};
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::{check_auth_file, AuthStatus};

/// A 1×1 PNG for the vision probe.
pub const PROBE_PNG_DATA_URL: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Pass,
    /// Not blocking, but worth a look.
    Warn,
    /// Failed.
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// The outcome.
    pub status: Status,
    /// Whether a failure fails the checklist.
    pub blocking: bool,
    /// How long it took.
    pub ms: u64,
    /// What was seen, or what to do.
    pub detail: String,
}

/// The whole checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Whether every blocking check passed.
    pub ok: bool,
}

impl Report {
    /// One line per check, then a verdict line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let tag = match c.status {
                Status::Pass => "PASS",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            out.push_str(&format!(
                "{tag}  {:<44} {:>6} ms  {}\n",
                c.name, c.ms, c.detail
            ));
        }
        let failed: Vec<_> = self
            .checks
            .iter()
            .filter(|c| c.blocking && c.status == Status::Fail)
            .map(|c| c.name)
            .collect();
        if failed.is_empty() {
            out.push_str("verify: all blocking checks passed\n");
        } else {
            out.push_str(&format!("verify: FAILED: {}\n", failed.join("; ")));
        }
        out
    }
}

struct Runner {
    checks: Vec<Check>,
}

impl Runner {
    fn record(
        &mut self,
        name: &'static str,
        blocking: bool,
        started: Instant,
        r: Result<(Status, String), String>,
    ) -> bool {
        let (status, detail) = match r {
            Ok(x) => x,
            Err(e) => (if blocking { Status::Fail } else { Status::Warn }, e),
        };
        self.checks.push(Check {
            name,
            status,
            blocking,
            ms: started.elapsed().as_millis() as u64,
            detail,
        });
        status != Status::Fail
    }

    fn skip(&mut self, name: &'static str, blocking: bool, why: &str) {
        self.checks.push(Check {
            name,
            status: if blocking { Status::Fail } else { Status::Warn },
            blocking,
            ms: 0,
            detail: format!("not run: {why}"),
        });
    }
}

const NAMES: [&str; 8] = [
    "provider codex-agent registered",
    "sidecar /healthz ok",
    "sidecar /v1/models",
    "chat returns string content",
    "parallel probe: schema-first, vision, plain",
    "retry metadata with SCILLM_RETRY_META=1",
    "mini-agent /ready",
    "credentials file (when echo is off)",
];

/// Run every check with the configuration `loader` describes.
pub async fn run(loader: ConfigLoader) -> Report {
    let mut r = Runner { checks: Vec::new() };
    let t = Instant::now();
    let config = match loader.load() {
        Ok(c) => {
            r.record(
                "config loads, no base ends in /v1",
                true,
                t,
                Ok((Status::Pass, "ok".into())),
            );
            c
        }
        Err(e) => {
            r.record(
                "config loads, no base ends in /v1",
                true,
                t,
                Err(e.to_string()),
            );
            for (i, name) in NAMES.iter().enumerate() {
                r.skip(name, i != 2 && i != 6, "the configuration did not load");
            }
            return finish(r);
        }
    };
    let t = Instant::now();
    let registered = registry::find("codex-agent")
        .map(|reg| {
            (
                Status::Pass,
                format!("{} (aliases: {})", reg.name, reg.aliases.join(", ")),
            )
        })
        .map_err(|e| e.to_string());
    r.record(NAMES[0], true, t, registered);

    let t = Instant::now();
    let (config, base) = match sidecar_base(config).await {
        Ok(x) => x,
        Err((c, e)) => {
            r.record(NAMES[1], true, t, Err(e));
            for (i, name) in NAMES.iter().enumerate().skip(2) {
                r.skip(name, i != 2 && i != 6, "the sidecar is not reachable");
            }
            let _ = c;
            return finish(r);
        }
    };
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = &config.codex_agent.api_key {
        use secrecy::ExposeSecret;
        if let Ok(mut v) =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
        {
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .default_headers(headers)
        .build()
        .unwrap_or_default();
    let health = get_json(&http, &base.join("healthz")).await;
    let echo = health
        .as_ref()
        .ok()
        .and_then(|h| h.get("echo").and_then(Value::as_bool))
        .unwrap_or(false);
    let auth_present = health
        .as_ref()
        .ok()
        .and_then(|h| h.get("auth_present").and_then(Value::as_bool));
    let ok_health = health.and_then(|h| {
        if h.get("ok") == Some(&Value::Bool(true)) {
            Ok((Status::Pass, format!("{base} echo={echo}")))
        } else {
            Err(format!("{base}/healthz answered {h}"))
        }
    });
    r.record(NAMES[1], true, t, ok_health);

    let t = Instant::now();
    let models = get_json(&http, &base.v1("models")).await.and_then(|m| {
        let ids: Vec<_> = m["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["id"].as_str())
            .collect();
        if ids.is_empty() {
            Err(format!("no models listed: {m}"))
        } else {
            Ok((Status::Pass, ids.join(", ")))
        }
    });
    r.record(NAMES[2], false, t, models);

    let config = Arc::new(config);
    let t = Instant::now();
    let chat = match Router::new(config.clone()) {
        Ok(router) => router
            .chat(ChatRequest::new(
                "codex-agent/gpt-5",
                vec![Message::user("Say hello")],
            ))
            .await
            .map_err(|e| e.to_string())
            .and_then(
                |resp| match resp.choices.first().and_then(|c| c.message.content.clone()) {
                    Some(Content::Text(s)) => {
                        Ok((Status::Pass, format!("content {:?}", truncate(&s))))
                    }
                    other => Err(format!("content is not a string: {other:?}")),
                },
            ),
        Err(e) => Err(e.to_string()),
    };
    r.record(NAMES[3], true, t, chat);

    let t = Instant::now();
    r.record(NAMES[4], true, t, parallel_probe(config.clone()).await);

    let t = Instant::now();
    r.record(NAMES[5], true, t, retry_meta_probe(&config).await);

    let t = Instant::now();
    let mini = format!(
        "http://{}:{}/ready",
        connect_host(&config.mini_agent.host),
        config.mini_agent.port
    );
    let ready = get_json(&http, &mini)
        .await
        .map(|v| (Status::Pass, format!("{mini} {v}")))
        .map_err(|e| format!("{e} (start it with `scillm mini-agent`)"));
    r.record(NAMES[6], false, t, ready);

    let t = Instant::now();
    r.record(NAMES[7], !echo, t, credentials(&config, echo, auth_present));
    finish(r)
}

fn finish(r: Runner) -> Report {
    let ok = r
        .checks
        .iter()
        .all(|c| !(c.blocking && c.status == Status::Fail));
    Report {
        checks: r.checks,
        ok,
    }
}

/// The configured base, or an embedded echo sidecar started for the checklist.
async fn sidecar_base(mut config: Config) -> Result<(Config, ApiBase), (Config, String)> {
    if let Some(b) = config.codex_agent.api_base.clone() {
        return Ok((config, b));
    }
    match scillm_provider_codex::embedded::ensure_embedded_sidecar(&config).await {
        Ok(e) => {
            config.codex_agent.api_base = Some(e.base.clone());
            config.codex_agent.api_key = Some(e.api_key);
            Ok((config, e.base))
        }
        Err(e) => Err((
            config,
            format!("no CODEX_AGENT_API_BASE and the embedded sidecar did not start: {e}"),
        )),
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("{url}: body is not JSON: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{url}: HTTP {status}: {body}"))
    }
}

async fn parallel_probe(config: Arc<Config>) -> Result<(Status, String), String> {
    let router = Router::new(config).map_err(|e| e.to_string())?;
    let schema = json!({"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]});
    let items: Vec<RequestItem> = vec![
        RouterRequest::new(ChatRequest::new(
            "codex-agent/gpt-5",
            vec![Message::user("Return {\"ok\":true}")],
        ))
        .schema_first(schema)
        .into(),
        ChatRequest::new(
            "codex-agent/gpt-5",
            vec![Message {
                content: Some(Content::Parts(vec![
                    ContentPart::text("What is in this image?"),
                    ContentPart::image_url(PROBE_PNG_DATA_URL),
                ])),
                ..Message::user("")
            }],
        )
        .into(),
        ChatRequest::new("codex-agent/gpt-5", vec![Message::user("Say hello")]).into(),
    ];
    let results = router.parallel(items, ParallelOptions::default()).await;
    if results.len() != 3 {
        return Err(format!("expected 3 results, got {}", results.len()));
    }
    let mut seen = Vec::new();
    for (label, res) in ["schema-first", "vision", "plain"].iter().zip(&results) {
        let v = res.to_value();
        let meta = v
            .get("scillm_router")
            .ok_or_else(|| format!("{label}: no scillm_router"))?;
        let content = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{label}: content is not a string"))?;
        if res.meta.error_type.as_str() == "provider_error"
            || res.meta.error_type.as_str() == "timeout"
        {
            return Err(format!(
                "{label}: {} {}",
                meta["error_type"], meta["exception"]
            ));
        }
        if content.is_empty() {
            return Err(format!("{label}: empty content"));
        }
        seen.push(format!(
            "{label}: {:?} error_type={}",
            truncate(content),
            meta["error_type"]
        ));
    }
    Ok((Status::Pass, seen.join("; ")))
}

async fn retry_meta_probe(config: &Config) -> Result<(Status, String), String> {
    let mut c = config.clone();
    c.router.retry_meta = true;
    c.codex_agent.enable_metrics = true;
    let router = Router::new(Arc::new(c)).map_err(|e| e.to_string())?;
    let item: RequestItem =
        ChatRequest::new("codex-agent/gpt-5", vec![Message::user("ping")]).into();
    let res = router
        .parallel(vec![item], ParallelOptions::default())
        .await;
    let v = res.first().map(|r| r.to_value()).unwrap_or_default();
    match v.pointer("/scillm_router/retries") {
        Some(r) if r.get("attempts").is_some() && r.get("total_sleep_ms").is_some() => {
            Ok((Status::Pass, format!("retries {r}")))
        }
        _ => Err(format!(
            "scillm_router.retries missing: {}",
            v.get("scillm_router").cloned().unwrap_or_default()
        )),
    }
}

fn credentials(
    config: &Config,
    echo: bool,
    auth_present: Option<bool>,
) -> Result<(Status, String), String> {
    let path = crate::auth::auth_path(config.sidecar.auth_path.as_deref());
    let local = check_auth_file(&path);
    let detail = local.describe(&path);
    match (echo, &local, auth_present) {
        (true, AuthStatus::Valid { .. }, _) => Ok((Status::Pass, format!("echo on; {detail}"))),
        (true, _, _) => Ok((Status::Warn, format!("echo on, not needed yet; {detail}"))),
        (false, _, Some(true)) => Ok((Status::Pass, format!("sidecar reports credentials present; local: {detail}"))),
        (false, AuthStatus::Valid { .. }, _) => Ok((Status::Pass, detail)),
        (false, _, _) => Err(format!("{detail}: mount ~/.codex/auth.json read-only (or set CODEX_AUTH_PATH), or set CODEX_SIDECAR_ECHO=1 for stub testing")),
    }
}

fn connect_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        h => h,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}
