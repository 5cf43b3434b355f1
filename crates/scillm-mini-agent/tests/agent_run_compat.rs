//! `/agent/run` with the Python original's requests (SPEC §15): the runbook's readiness
//! payload, every original field, unknown fields as warnings, escalation; admission
//! control; streamed progress.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use serde_json::{json, Value};
use support::shim_helpers::{port0, post, start};
use support::{config, MockModel, Step};
use tokio::sync::Semaphore;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn the_runbook_readiness_payload_answers_ok_with_the_dummy_model() {
    let mock = MockModel::start(vec![]).await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    for model in ["dummy", "noop"] {
        let (status, body) = post(
            format!("{}/agent/run", shim.base()),
            json!({"messages":[{"role":"user","content":"hi"}],"model":model,"tool_backend":"local"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ok"], true, "{body}");
        assert!(body["metrics"]["iterations"].is_u64(), "{body}");
        assert_eq!(body["metrics"]["iterations"], 1);
        assert_eq!(body["metrics"]["used_model"], model);
        assert_eq!(body["stopped_reason"], "success");
        assert!(body["final_answer"].is_string());
    }
    assert!(mock.requests().is_empty(), "the stub model calls nothing");
}

#[tokio::test]
async fn every_original_field_is_accepted_and_unknown_fields_become_warnings() {
    let tools = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/tools"))
        .and(header("x-tool-key", "tool-secret-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!([{ "name": "lookup", "description": "Look up", "parameters": { "type": "object" } }]),
        ))
        .expect(1)
        .mount(&tools)
        .await;
    Mock::given(method("POST"))
        .and(path("/invoke"))
        .and(header("x-tool-key", "tool-secret-1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(100_000)))
        .expect(1)
        .mount(&tools)
        .await;
    let mock = MockModel::start(vec![
        Step::call("l", "lookup", json!({ "q": "a" })),
        Step::text("looked up"),
    ])
    .await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({
            "messages": [{ "role": "user", "content": "look it up" }],
            "model": "mini-agent",
            "target_model": "m",
            "tool_backend": "http",
            "tool_http_base_url": tools.uri(),
            "tool_http_headers": { "X-Tool-Key": "tool-secret-1" },
            "max_total_seconds": 60,
            "max_iterations": 3,
            "use_tools": true,
            "enable_repair": true,
            "escalate_on_budget_exceeded": false,
            "escalate_model": "m",
            "temperature_hint": 0.3,
            "session_id": "abc"
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["final_answer"], "looked up");
    assert_eq!(body["metrics"]["used_model"], "m");
    let warnings: Vec<&str> = body["mini_agent"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("`temperature_hint`")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("`session_id`")),
        "{warnings:?}"
    );
    // The HTTP tool's answer reached the model capped, not whole.
    let reqs = mock.requests();
    let offered = support::offered_tools(&reqs[0]);
    assert!(offered.contains(&"lookup"), "{offered:?}");
    let replies = support::tool_replies(&reqs[1]);
    assert!(replies[0].1.len() < 20_000, "{}", replies[0].1.len());
    assert!(
        replies[0].1.contains("[truncated"),
        "tool answer not marked as cut"
    );
    assert!(
        !body.to_string().contains("tool-secret-1"),
        "a header value leaked: {body}"
    );
    tools.verify().await;
}

#[tokio::test]
async fn use_tools_false_offers_no_tools_and_echo_backend_runs_nothing() {
    let mock = MockModel::start(vec![
        Step::text("no tools"),
        Step::call("e", "exec_python", json!({ "code": "print(1)" })),
        Step::text("echoed"),
    ])
    .await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let url = format!("{}/agent/run", shim.base());
    let (status, body) = post(url.clone(), json!({ "prompt": "a", "use_tools": false })).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        mock.requests()[0].get("tools").is_none(),
        "{}",
        mock.requests()[0]
    );
    let (status, body) = post(
        url.clone(),
        json!({ "prompt": "b", "tool_backend": "echo" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let replies = support::tool_replies(&mock.requests()[2]);
    assert_eq!(replies[0].1, r#"{"code":"print(1)"}"#);
    let (status, body) = post(url, json!({ "prompt": "c", "tool_backend": "ftp" })).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("local"));
}

#[tokio::test]
async fn escalation_reruns_with_the_escalate_model_after_max_iterations() {
    let weak = MockModel::start(vec![
        Step::call("1", "echo", json!({ "text": "one" })),
        Step::call("2", "echo", json!({ "text": "two" })),
    ])
    .await;
    let strong = MockModel::start(vec![Step::text("the strong answer")]).await;
    let cfg = config(
        &weak.base(),
        &port0(&[(
            "model_list",
            json!([
                { "model_name": "m", "provider": "openai", "api_base": weak.base() },
                { "model_name": "big", "provider": "openai", "api_base": strong.base() }
            ]),
        )]),
    );
    let shim = start(cfg).await;
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({
            "messages": [{ "role": "user", "content": "hard task" }],
            "model": "m",
            "max_iterations": 2,
            "escalate_on_budget_exceeded": true,
            "escalate_model": "big"
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metrics"]["escalated"], true, "{body}");
    assert_eq!(body["final_answer"], "the strong answer");
    assert_eq!(body["metrics"]["used_model"], "big");
    assert_eq!(body["ok"], true);
    assert_eq!(body["mini_agent"]["first_attempt"]["model"], "m");
    assert_eq!(
        body["mini_agent"]["first_attempt"]["stopped_reason"],
        "max_iterations"
    );
    assert_eq!(weak.requests().len(), 2);
    assert_eq!(strong.requests()[0]["model"], "big");
    // The escalation run starts from the task, not from the weak model's transcript.
    assert_eq!(strong.requests()[0]["messages"][1]["content"], "hard task");
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let gate = Arc::new(Semaphore::new(0));
    let mock = MockModel::start(vec![
        Step::text("first").held(&gate),
        Step::text("second").held(&gate),
    ])
    .await;
    let shim = start(config(
        &mock.base(),
        &port0(&[
            ("mini_agent.max_concurrency", json!(1)),
            ("mini_agent.max_queue", json!(1)),
        ]),
    ))
    .await;
    let url = format!("{}/agent/run", shim.base());
    let a = tokio::spawn(post(url.clone(), json!({ "prompt": "a" })));
    mock.wait_requests(1).await;
    let b = tokio::spawn(post(url.clone(), json!({ "prompt": "b" })));
    loop {
        let h: Value = reqwest::get(format!("{}/healthz", shim.base()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["admission"]["queued"] == 1 {
            assert_eq!(h["admission"]["running"], 1);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let c = reqwest::Client::new()
        .post(&url)
        .json(&json!({ "prompt": "c" }))
        .send()
        .await
        .unwrap();
    assert_eq!(c.status().as_u16(), 503);
    let retry: u64 = c.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = c.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("MINI_AGENT_MAX_CONCURRENCY"));
    gate.add_permits(2);
    let (sa, ba) = a.await.unwrap();
    let (sb, bb) = b.await.unwrap();
    assert_eq!((sa, sb), (200, 200), "{ba} {bb}");
    assert_eq!(
        mock.requests().len(),
        2,
        "the refused run never reached the model"
    );
}

#[tokio::test]
async fn streaming_sends_tool_progress_before_the_final_model_call_returns() {
    let gate = Arc::new(Semaphore::new(0));
    let mock = MockModel::start(vec![
        Step::call("c1", "echo", json!({ "text": "pong" })),
        Step::text("the final answer").held(&gate),
    ])
    .await;
    let shim = start(config(&mock.base(), &port0(&[]))).await;
    let mut resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", shim.base()))
        .json(&json!({ "model": "mini-agent", "stream": true, "messages": [{ "role": "user", "content": "ping" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut seen = String::new();
    while !seen.contains("\"tool_result\"") {
        let chunk = resp.chunk().await.unwrap().expect("stream ended early");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The final model call is still held: its answer cannot have been streamed.
    assert_eq!(gate.available_permits(), 0);
    assert!(!seen.contains("the final answer"), "{seen}");
    assert!(
        seen.contains("\"tool_call\"") && seen.contains("\"pong\""),
        "{seen}"
    );
    gate.add_permits(1);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let call = seen.find("\"tool_call\"").unwrap();
    let result = seen.find("\"tool_result\"").unwrap();
    let answer = seen.find("the final answer").unwrap();
    assert!(call < result && result < answer, "{seen}");
    assert!(seen.trim_end().ends_with("data: [DONE]"), "{seen}");
    // Every data line is a chunk or [DONE].
    for line in seen.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line != "[DONE]" {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk", "{line}");
        }
    }
}
