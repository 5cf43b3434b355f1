//! Helpers for tests that talk to a running shim over HTTP.

use std::sync::Arc;

use scillm_core::Config;
use scillm_mini_agent::shim::spawn_with;
use scillm_mini_agent::RunningShim;
use serde_json::{json, Value};

/// Start a shim for `cfg` whose agent calls models through a router built from it.
pub async fn start(cfg: Config) -> RunningShim {
    let cfg = Arc::new(cfg);
    let router = scillm_router::Router::new(cfg.clone()).unwrap();
    let shim = spawn_with(cfg, Some(Arc::new(router))).await.unwrap();
    wait_ready(&shim.base()).await;
    shim
}

/// Poll `/ready` until it answers (the listener is bound before `spawn_with` returns, so
/// the first poll normally succeeds).
pub async fn wait_ready(base: &str) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/ready")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::task::yield_now().await;
    }
    panic!("shim at {base} never became ready");
}

pub fn port0(extra: &[(&str, Value)]) -> Vec<(&'static str, Value)> {
    let mut v: Vec<(&'static str, Value)> = vec![("mini_agent.port", json!(0))];
    v.extend(extra.iter().map(|(k, v)| (leak(k), v.clone())));
    v
}

pub fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

pub async fn post(url: String, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub fn assert_error_body(body: &Value) {
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["type"].is_string(), "{body}");
    assert!(body["error"].get("code").is_some(), "{body}");
}
