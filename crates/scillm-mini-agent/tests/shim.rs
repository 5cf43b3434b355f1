//! The shim over HTTP: endpoints, the `/agent/run` envelope, OpenAI error bodies, echo
//! mode, bind refusal, inbound auth and traces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use scillm_core::Config;
use scillm_mini_agent::shim::{bind_addr, spawn_with};
use scillm_mini_agent::{RunningShim, ShimError};
use serde_json::{json, Value};
use support::{config, MockModel, Step};

async fn start(cfg: Config) -> RunningShim {
    let cfg = Arc::new(cfg);
    let router = scillm_router::Router::new(cfg.clone()).unwrap();
    let shim = spawn_with(cfg, Some(Arc::new(router))).await.unwrap();
    wait_ready(&shim.base()).await;
    shim
}

/// Poll `/ready` until it answers (the listener is bound before `spawn_with` returns, so
/// the first poll normally succeeds).
async fn wait_ready(base: &str) {
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

fn port0(extra: &[(&str, Value)]) -> Vec<(&'static str, Value)> {
    let mut v: Vec<(&'static str, Value)> = vec![("mini_agent.port", json!(0))];
    v.extend(extra.iter().map(|(k, v)| (leak(k), v.clone())));
    v
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

async fn post(url: String, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_error_body(body: &Value) {
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["type"].is_string(), "{body}");
    assert!(body["error"].get("code").is_some(), "{body}");
}

#[tokio::test]
async fn ready_healthz_and_models() {
    let mock = MockModel::start(vec![]).await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let base = shim.base();
    let ready: Value = reqwest::get(format!("{base}/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ok"], true);
    let health: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ok"], true);
    assert_eq!(health["mode"], "agent");
    for key in [
        "bubblewrap",
        "network_isolated",
        "read_only_root",
        "env_cleared",
        "temp_cwd",
        "process_group_kill",
        "rlimits",
        "limitations",
    ] {
        assert!(
            health["sandbox"].get(key).is_some(),
            "healthz sandbox lacks {key}: {health}"
        );
    }
    assert_eq!(health["sandbox"]["env_cleared"], true);
    let models: Value = reqwest::get(format!("{base}/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "mini-agent");
    shim.shutdown().await.unwrap();
}

#[tokio::test]
async fn chat_completions_returns_the_final_answer_and_agent_details() {
    let mock = MockModel::start(vec![
        Step::call("c1", "echo", json!({ "text": "pong" })),
        Step::text("the tool said pong"),
    ])
    .await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let (status, body) = post(
        format!("{}/v1/chat/completions", shim.base()),
        json!({ "model": "mini-agent", "messages": [{ "role": "user", "content": "ping" }] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "mini-agent");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "the tool said pong"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let ma = &body["mini_agent"];
    assert_eq!(ma["iterations"], 2);
    assert_eq!(ma["stopped_reason"], "success");
    assert_eq!(ma["tool_invocations"][0]["name"], "echo");
    assert_eq!(ma["tool_invocations"][0]["output"], "pong");
    // The configured model was driven, not the shim's own id.
    assert_eq!(mock.requests()[0]["model"], "m");
}

#[tokio::test]
async fn agent_run_returns_every_envelope_key() {
    let mock = MockModel::start(vec![Step::text("hello")]).await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({ "prompt": "say hello" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for key in [
        "ok",
        "final_answer",
        "stopped_reason",
        "messages",
        "metrics",
    ] {
        assert!(body.get(key).is_some(), "envelope lacks {key}: {body}");
    }
    for key in ["iterations", "ttotal_ms", "escalated", "used_model"] {
        assert!(
            body["metrics"].get(key).is_some(),
            "metrics lack {key}: {body}"
        );
    }
    assert_eq!(body["ok"], true);
    assert_eq!(body["final_answer"], "hello");
    assert_eq!(body["stopped_reason"], "success");
    assert_eq!(body["metrics"]["iterations"], 1);
    assert_eq!(body["metrics"]["escalated"], false);
    assert_eq!(body["metrics"]["used_model"], "m");
    assert!(body["messages"].as_array().unwrap().len() >= 3);
}

#[tokio::test]
async fn errors_are_openai_error_bodies_with_the_right_status() {
    let mock = MockModel::start(vec![]).await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let base = shim.base();
    let client = reqwest::Client::new();

    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_error_body(&body);
    assert_eq!(body["error"]["code"], "invalid_json");

    let (status, body) = post(
        format!("{base}/v1/chat/completions"),
        json!({ "model": "x" }),
    )
    .await;
    assert_eq!(status, 400);
    assert_error_body(&body);

    let (status, body) = post(
        format!("{base}/v1/chat/completions"),
        json!({ "model": "x", "messages": [] }),
    )
    .await;
    assert_eq!(status, 400);
    assert_error_body(&body);

    let r = client.get(format!("{base}/v1/nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_error_body(&r.json().await.unwrap());

    let r = client
        .get(format!("{base}/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_error_body(&r.json().await.unwrap());

    let big = "x".repeat(5 * 1024 * 1024);
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({ "model": "x", "messages": [{ "role": "user", "content": big }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_error_body(&r.json().await.unwrap());

    let (status, body) = post(format!("{base}/agent/run"), json!({})).await;
    assert_eq!(status, 400);
    assert_error_body(&body);
}

#[tokio::test]
async fn an_unreachable_model_is_a_502_error_body() {
    // A port that was bound and released: nothing listens there now.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let shim = start(config(&format!("http://{dead}"), &port0(&[]))).await;
    let (status, body) = post(
        format!("{}/v1/chat/completions", shim.base()),
        json!({ "model": "mini-agent", "messages": [{ "role": "user", "content": "hi" }] }),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_error_body(&body);
}

#[tokio::test]
async fn echo_mode_answers_without_calling_a_model() {
    let mock = MockModel::start(vec![]).await;
    let shim = start(config(
        &mock.base(),
        &port0(&[("mini_agent.shim_mode", json!("echo"))]),
    ))
    .await;
    let (status, body) = post(
        format!("{}/v1/chat/completions", shim.base()),
        json!({ "model": "anything", "messages": [{ "role": "user", "content": "repeat me" }] }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "repeat me");
    assert_eq!(body["model"], "anything");
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({ "prompt": "again" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["final_answer"], "again");
    let health: Value = reqwest::get(format!("{}/healthz", shim.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["mode"], "echo");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn stream_true_gets_server_sent_events_ending_with_done() {
    let mock = MockModel::start(vec![Step::text("streamed answer")]).await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", shim.base()))
        .json(&json!({ "model": "mini-agent", "stream": true, "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(text.contains("streamed answer"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[tokio::test]
async fn a_non_loopback_bind_needs_an_api_key_which_is_then_required() {
    let base = "http://127.0.0.1:9";
    let open = config(base, &[("mini_agent.host", json!("0.0.0.0"))]);
    assert!(matches!(
        bind_addr(&open.mini_agent),
        Err(ShimError::InsecureBind { .. })
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
