//! Send one case and check the answer: a 4xx (the case's exact status when it names
//! one), an OpenAI error body unless hyper answered a listed protocol-level case itself,
//! and `GET /healthz` still 200 afterwards. Never a hang: every request has a timeout.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::case::{Case, Wire};
use super::protocol_cases::PROTOCOL_ALLOWLIST;
use super::raw_http::{self, RawResponse};
use super::targets::{Target, KEY};

/// Guards against a hang; generous because the machine is shared and bodies are large.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client for the corpus (no retries, no redirects, no pooling across cases).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Run `case` against `t`; `Err` describes the first broken promise.
pub async fn run(t: &Target, http: &reqwest::Client, case: &Case) -> Result<(), String> {
    let answer = match &case.wire {
        Wire::Http {
            method,
            path,
            headers,
            body,
            no_auth,
        } => {
            let mut req = http.request(method.clone(), t.url(path)).body(body.clone());
            let has_auth = headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
            if !has_auth && !no_auth {
                req = req.bearer_auth(KEY);
            }
            for (name, value) in headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| format!("bad test header name: {e}"))?;
                let value = HeaderValue::from_bytes(value)
                    .map_err(|e| format!("bad test header value: {e}"))?;
                req = req.header(name, value);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("request failed: {e:#}"))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = resp
                .bytes()
                .await
                .map_err(|e| format!("body read failed: {e:#}"))?
                .to_vec();
            RawResponse {
                status,
                headers,
                body,
            }
        }
        Wire::Raw(raw) => raw_http::send(t.addr, raw, REQUEST_TIMEOUT).await?,
    };
    check_answer(case, &answer)?;
    healthz(t, http)
        .await
        .map_err(|e| format!("after the case: {e}"))
}

fn check_answer(case: &Case, a: &RawResponse) -> Result<(), String> {
    let shown = || {
        let text = String::from_utf8_lossy(&a.body);
        let cut: String = text.chars().take(300).collect();
        format!("status {} body {cut:?}", a.status)
    };
    if !(400..500).contains(&a.status) {
        return Err(format!("not a 4xx: {}", shown()));
    }
    if let Some(want) = case.status {
        if a.status != want {
            return Err(format!("expected {want}: {}", shown()));
        }
    }
    if let Some((_, status, _)) = PROTOCOL_ALLOWLIST.iter().find(|(n, _, _)| *n == case.name) {
        // hyper's own answer: exactly the listed status and no body. Anything else means
        // the entry is stale (the app answers now) and must leave the allowlist.
        return if a.status == *status && a.body.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "allowlisted as hyper's bare {status}, got {}: update PROTOCOL_ALLOWLIST",
                shown()
            ))
        };
    }
    let ct = a.header("content-type").unwrap_or_default();
    if !ct.starts_with("application/json") {
        return Err(format!("content-type {ct:?} is not JSON: {}", shown()));
    }
    let v: Value = serde_json::from_slice(&a.body)
        .map_err(|e| format!("body is not JSON ({e}): {}", shown()))?;
    let e = v
        .get("error")
        .filter(|e| e.is_object())
        .ok_or_else(|| format!("no error object: {}", shown()))?;
    let message_ok = e
        .get("message")
        .and_then(Value::as_str)
        .is_some_and(|m| !m.trim().is_empty());
    let type_ok = e
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if !message_ok || !type_ok || e.get("code").is_none() {
        return Err(format!(
            "not an OpenAI error body (message, type, code): {}",
            shown()
        ));
    }
    Ok(())
}

/// `GET /healthz` answers 200.
pub async fn healthz(t: &Target, http: &reqwest::Client) -> Result<(), String> {
    let r = http
        .get(t.url("/healthz"))
        .send()
        .await
        .map_err(|e| format!("GET /healthz failed: {e:#}"))?;
    match r.status().as_u16() {
        200 => Ok(()),
        s => Err(format!("GET /healthz answered {s}")),
    }
}
