//! HTTP tools: listed from `GET {base}/tools`, each call one `POST {base}/invoke`, JSON and
//! text answers both accepted, failures reported (and not retried).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use scillm_mini_agent::StopReason;
use serde_json::json;
use support::{agent, config, run, tool_replies, MockModel, Step};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn http_tools_are_offered_and_each_call_is_invoked_exactly_once() {
    let tools = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/tools"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "tools": [
            { "name": "weather", "description": "Weather by city", "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } },
            { "type": "function", "function": { "name": "notes", "description": "Read notes" } },
            { "name": "flaky", "description": "Always fails" }
        ] })))
        .expect(1)
        .mount(&tools)
        .await;
    Mock::given(method("POST"))
        .and(path("/invoke"))
        .and(body_partial_json(
            json!({ "name": "weather", "arguments": { "city": "Paris" } }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "temp_c": 21 })))
        .expect(1)
        .mount(&tools)
        .await;
    Mock::given(method("POST"))
        .and(path("/invoke"))
        .and(body_partial_json(json!({ "name": "notes" })))
        .respond_with(ResponseTemplate::new(200).set_body_string("buy milk"))
        .expect(1)
        .mount(&tools)
        .await;
    Mock::given(method("POST"))
        .and(path("/invoke"))
        .and(body_partial_json(json!({ "name": "flaky" })))
        .respond_with(ResponseTemplate::new(500).set_body_string("tool exploded"))
        .expect(1)
        .mount(&tools)
        .await;

    let model = MockModel::start(vec![
        Step::calls(&[
            ("w", "weather", r#"{"city":"Paris"}"#),
            ("n", "notes", "{}"),
            ("f", "flaky", "{}"),
        ]),
        Step::text("21 degrees; buy milk"),
        Step::text("no tools this time"),
    ])
    .await;
    let cfg = config(
        &model.base(),
        &[
            ("mini_agent.tools_base", json!(tools.uri())),
            ("mini_agent.max_tools_per_iter", json!(3)),
        ],
    );
    let agent = agent(cfg).await;
    let out = run(&agent, "weather and notes").await;
    assert_eq!(out.stopped_reason, StopReason::Success);

    let reqs = model.requests();
    let offered = support::offered_tools(&reqs[0]);
    assert_eq!(
        offered,
        vec![
            "exec_python",
            "exec_shell",
            "echo",
            "weather",
            "notes",
            "flaky"
        ]
    );
    assert_eq!(
        reqs[0]["tools"][3]["function"]["parameters"]["properties"]["city"]["type"],
        "string"
    );

    let replies = tool_replies(&reqs[1]);
    assert_eq!(
        replies[0],
        ("w".to_string(), r#"{"temp_c":21}"#.to_string())
    );
    assert_eq!(replies[1], ("n".to_string(), "buy milk".to_string()));
    assert!(
        replies[2].1.contains("HTTP 500") && replies[2].1.contains("tool exploded"),
        "{}",
        replies[2].1
    );
    assert_eq!(out.repair_observations, 1);

    // A second run reuses the cached list: /tools is still fetched only once.
    let again = run(&agent, "anything else?").await;
    assert_eq!(again.final_answer, "no tools this time");
    assert_eq!(model.requests()[2]["tools"].as_array().unwrap().len(), 6);
    tools.verify().await;
}

#[tokio::test]
async fn a_failed_tool_list_fetch_is_remembered_and_runs_go_on_without_http_tools() {
    let tools = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/tools"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&tools)
        .await;
    let model = MockModel::start(vec![Step::text("one"), Step::text("two")]).await;
    let cfg = config(
        &model.base(),
        &[("mini_agent.tools_base", json!(tools.uri()))],
    );
    let agent = agent(cfg).await;
    assert_eq!(run(&agent, "a").await.final_answer, "one");
    assert_eq!(run(&agent, "b").await.final_answer, "two");
    for req in model.requests() {
        assert_eq!(
            support::offered_tools(&req),
            vec!["exec_python", "exec_shell", "echo"]
        );
    }
    // Both runs fell within the failure TTL: the dead server was asked once.
    tools.verify().await;
}
