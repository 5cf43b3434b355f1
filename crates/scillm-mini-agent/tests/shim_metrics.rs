//! `GET /metrics` of the mini-agent after a known mix of requests: the text parses with
//! the official Python `prometheus_client` parser, and the foundation's request counts,
//! the runs by `stopped_reason` and the tool calls by tool and outcome are exactly what
//! was sent; `x-request-id` comes back as sent or generated. One test in its own binary:
//! the recorder is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use scillm_telemetry::names::{
    HTTP_REQUESTS_TOTAL, IN_FLIGHT, MINI_AGENT_RUNS_TOTAL, MINI_AGENT_TOOL_CALLS_TOTAL,
};
use scillm_testkit::prometheus::{scrape, value};
use serde_json::json;
use support::shim_helpers::port0;
use support::{config, MockModel, Step};

#[tokio::test]
async fn a_known_mix_of_requests_scrapes_as_counted() {
    let Some(python) =
        scillm_testkit::external("SCILLM_TEST_PYTHON", "a python with `prometheus_client`")
    else {
        return;
    };
    let mock = MockModel::start(vec![
        Step::call("c1", "echo", json!({"text": "hi"})),
        Step::text("first"),
        Step::call("c2", "echo", json!({})),
        Step::text("second"),
        Step::call("c3", "no_such_tool", json!({})),
        Step::text("third"),
        Step::text("chat answer"),
    ])
    .await;
    let cfg = Arc::new(config(&mock.base(), &port0(&[])));
    let router = scillm_router::Router::new(cfg.clone()).unwrap();
    let shim = scillm_mini_agent::shim::spawn_with(cfg, Some(Arc::new(router)))
        .await
        .unwrap();
    let base = shim.base();
    let http = reqwest::Client::new();

    for prompt in ["one", "two", "three"] {
        let r = http
            .post(format!("{base}/agent/run"))
            .json(&json!({ "prompt": prompt }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http
        .post(format!("{base}/v1/chat/completions"))
        .header("x-request-id", "abc")
        .json(&json!({ "model": "mini-agent", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "abc");
    let r = http.get(format!("{base}/v1/models")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let generated = r.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let r = http
        .post(format!("{base}/agent/run"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(
        http.get(format!("{base}/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let (text, s) = scrape(&python, &base).await.unwrap();
    let v = |name: &str, labels: &[(&str, &str)]| value(&s, name, labels);
    assert_eq!(
        v(MINI_AGENT_RUNS_TOTAL, &[("stopped_reason", "success")]),
        Some(4.0),
        "{text}"
    );
    let tool = |name: &str, outcome: &str| {
        v(
            MINI_AGENT_TOOL_CALLS_TOTAL,
            &[("tool", name), ("outcome", outcome)],
        )
    };
    assert_eq!(tool("echo", "ok"), Some(1.0), "{text}");
    assert_eq!(tool("echo", "error"), Some(1.0), "{text}");
    assert_eq!(tool("unknown", "error"), Some(1.0), "{text}");
    assert!(
        !text.contains("no_such_tool"),
        "tool names a model made up are no labels"
    );
    let requests = |class: &str| {
        v(
            HTTP_REQUESTS_TOTAL,
            &[("component", "mini_agent"), ("status", class)],
        )
    };
    assert_eq!(requests("2xx"), Some(5.0), "{text}");
    assert_eq!(requests("4xx"), Some(2.0), "{text}");
    assert_eq!(requests("5xx"), None, "{text}");
    assert_eq!(
        v(IN_FLIGHT, &[("component", "mini_agent")]),
        Some(1.0),
        "{text}"
    );
    shim.shutdown().await.unwrap();
}
