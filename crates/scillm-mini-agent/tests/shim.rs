//! The shim over HTTP: endpoints, the `/agent/run` envelope, OpenAI error bodies, echo
//! mode and streaming.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod support;

use serde_json::{json, Value};
use support::shim_helpers::{assert_error_body, port0, post, start};
use support::{config, MockModel, Step};

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
        "isolation",
        "network_isolated",
        "pid_namespace",
        "allowlisted_filesystem",
        "max_processes",
        "env_cleared",
        "temp_cwd",
        "process_group_kill",
        "rlimits",
        "limitations",
    ] {
        assert!(
            health["sandbox_protections"].get(key).is_some(),
            "healthz sandbox_protections lacks {key}: {health}"
        );
    }
    assert_eq!(health["sandbox"], "bubblewrap", "{health}");
    assert_eq!(health["sandbox_protections"]["env_cleared"], true);
    assert_eq!(health["admission"]["max_concurrency"], 4);
    // Shown in the test log, so a CI run records which protections its machine has.
    println!(
        "sandbox protections on this machine: {}",
        health["sandbox_protections"]
    );
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
async fn echo_mode_answers_shim_ok_with_zero_usage_without_calling_a_model() {
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
    assert_eq!(body["choices"][0]["message"]["content"], "shim ok");
    assert_eq!(body["model"], "anything");
    assert_eq!(body["usage"]["prompt_tokens"], 0);
    assert_eq!(body["usage"]["completion_tokens"], 0);
    assert_eq!(body["usage"]["total_tokens"], 0);
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({ "prompt": "again" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["final_answer"], "shim ok");
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
async fn echo_mode_answers_the_configured_reply() {
    let mock = MockModel::start(vec![]).await;
    let shim = start(config(
        &mock.base(),
        &port0(&[
            ("mini_agent.shim_mode", json!("echo")),
            ("mini_agent.shim_reply", json!("custom pong")),
        ]),
    ))
    .await;
    let (status, body) = post(
        format!("{}/v1/chat/completions", shim.base()),
        json!({ "model": "x", "messages": [{ "role": "user", "content": "hi" }] }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "custom pong");
}

#[tokio::test]
async fn completion_ids_are_unique() {
    let mock = MockModel::start(vec![Step::text("a"), Step::text("b")]).await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, body) = post(
            format!("{}/v1/chat/completions", shim.base()),
            json!({ "model": "mini-agent", "messages": [{ "role": "user", "content": "hi" }] }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    assert_ne!(ids[0], ids[1]);
    assert!(
        ids[0].starts_with("chatcmpl-") && ids[0].len() > 30,
        "{ids:?}"
    );
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
