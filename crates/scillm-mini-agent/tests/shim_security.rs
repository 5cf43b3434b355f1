//! The shim's guards: loopback bind by default, API key for anything else (then required
//! on every route but the probes), and traces with secrets redacted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use scillm_mini_agent::shim::{bind_addr, spawn_with};
use scillm_mini_agent::ShimError;
use serde_json::{json, Value};
use support::shim_helpers::{assert_error_body, port0, start};
use support::{config, MockModel, Step};

#[tokio::test]
async fn a_non_loopback_bind_needs_an_api_key_which_is_then_required() {
    let base = "http://127.0.0.1:9";
    let open = config(base, &[("mini_agent.host", json!("0.0.0.0"))]);
    assert!(matches!(
        bind_addr(&open.mini_agent),
        Err(ShimError::Bind(scillm_serve::BindError::Insecure { .. }))
    ));
    let err = spawn_with(Arc::new(open), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("MINI_AGENT_API_KEY"), "{err}");
    assert!(bind_addr(&config(base, &[]).mini_agent)
        .unwrap()
        .ip()
        .is_loopback());
    let overridden = config(
        base,
        &[
            ("mini_agent.host", json!("0.0.0.0")),
            ("mini_agent.allow_insecure_bind", json!(true)),
        ],
    );
    assert!(bind_addr(&overridden.mini_agent).is_ok());

    let keyed = config(
        base,
        &port0(&[
            ("mini_agent.host", json!("0.0.0.0")),
            ("mini_agent.api_key", json!("k-123456")),
            ("mini_agent.shim_mode", json!("echo")),
        ]),
    );
    let shim = spawn_with(Arc::new(keyed), None).await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/v1/chat/completions",
        shim.addr().port()
    );
    let body = json!({ "model": "x", "messages": [{ "role": "user", "content": "hi" }] });
    let client = reqwest::Client::new();
    let r = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_error_body(&r.json().await.unwrap());
    let r = client
        .post(&url)
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .post(&url)
        .bearer_auth("k-123456")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Probes stay open.
    let r = client
        .get(format!("http://127.0.0.1:{}/ready", shim.addr().port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn traces_are_one_redacted_json_line_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    let mock = MockModel::start(vec![Step::text("first"), Step::text("second")]).await;
    let cfg = config(
        &mock.base(),
        &port0(&[
            ("mini_agent.store_traces", json!(true)),
            ("mini_agent.store_path", json!(path.display().to_string())),
            ("mini_agent.api_key", json!("shim-key-abcdef")),
        ]),
    );
    let shim = start(cfg).await;
    let client = reqwest::Client::new();
    for prompt in [
        "my key is shim-key-abcdef",
        "token sk-abcdefghijklmnopqrstuvwx and Bearer xyz123",
    ] {
        let r = client
            .post(format!("{}/agent/run", shim.base()))
            .bearer_auth("shim-key-abcdef")
            .json(&json!({ "prompt": prompt }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["endpoint"], "/agent/run");
        assert!(v["stopped_reason"].is_string() && v["messages"].is_array());
    }
    for secret in ["shim-key-abcdef", "abcdefghijklmnopqrstuvwx", "xyz123"] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into traces: {text}"
        );
    }
    assert!(text.contains("[REDACTED]"));
}
