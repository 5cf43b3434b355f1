//! The router's metrics (SPEC §16), parsed with the official `prometheus_client` parser: a
//! streamed answer's token use reaches `gen_ai_client_token_usage` when the stream ends,
//! from the usage chunk `stream_options.include_usage` asks for; a deployment's failed
//! calls are counted even when the item recovered by failing over.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{item, router};
use futures::StreamExt;
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use scillm_testkit::prometheus;
use serde_json::json;

#[tokio::test]
async fn a_streamed_answer_records_its_token_use_when_it_ends() {
    let Some(python) =
        scillm_testkit::external("SCILLM_TEST_PYTHON", "a python with `prometheus_client`")
    else {
        return;
    };
    let handle = scillm_telemetry::prometheus::handle().unwrap();
    let mock = ChatMock::builder().content("ok").start().await.unwrap();
    let r = router(
        json!([{"model_name": "m", "provider": "openai", "api_base": mock.base_url()}]),
        &[],
    );
    let tokens = |text: &str, kind: &str, what: &str| {
        let samples = prometheus::parse(&python, text).unwrap();
        prometheus::sum(
            &samples,
            &format!("gen_ai_client_token_usage_{what}"),
            &[("gen_ai_token_type", kind)],
        )
    };
    let mut req = item("m", "hi");
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    let mut s = r
        .chat_stream(scillm_router::RouterRequest::from_value(req).unwrap())
        .await
        .unwrap();
    let mut chunks = 0;
    while let Some(c) = s.next().await {
        c.unwrap();
        chunks += 1;
    }
    assert!(chunks >= 4);
    // Open until dropped: nothing recorded yet.
    assert_eq!(tokens(&handle.render(), "input", "count"), 0.0);
    drop(s);
    let text = handle.render();
    assert_eq!(tokens(&text, "input", "count"), 1.0, "{text}");
    // The mock's usage chunk: 1 prompt token, 1 completion token.
    assert_eq!(tokens(&text, "input", "sum"), 1.0, "{text}");
    assert_eq!(tokens(&text, "output", "sum"), 1.0, "{text}");
}

#[tokio::test]
async fn a_deployment_failing_behind_a_failover_shows_its_failures() {
    let Some(python) =
        scillm_testkit::external("SCILLM_TEST_PYTHON", "a python with `prometheus_client`")
    else {
        return;
    };
    let handle = scillm_telemetry::prometheus::handle().unwrap();
    let down = ChatMock::builder()
        .respond_with(|_| MockReply::status(503))
        .start()
        .await
        .unwrap();
    let up = ChatMock::builder().content("ok").start().await.unwrap();
    let r = router(
        json!([
            {"model_name": "m", "provider": "openai", "api_base": down.base_url(), "order": 1},
            {"model_name": "m", "provider": "openai", "api_base": up.base_url(), "order": 2}
        ]),
        &[("router.cooldown_s", json!(600))],
    );
    for _ in 0..3 {
        assert!(r.completion(item("m", "q")).await.is_ok());
    }
    let text = handle.render();
    let samples = prometheus::parse(&python, &text).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| prometheus::sum(&samples, name, labels);
    // Every item ended ok on m#1: the item counts say nothing of m#0...
    assert_eq!(
        value(
            "scillm_requests_total",
            &[("deployment", "m#1"), ("error_type", "ok")]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        value("scillm_requests_total", &[("deployment", "m#0")]),
        0.0,
        "{text}"
    );
    // ...its failed call and its cooldown do.
    assert_eq!(
        value(
            "scillm_deployment_failures_total",
            &[("deployment", "m#0"), ("error_kind", "server")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value("scillm_deployment_failures_total", &[("deployment", "m#1")]),
        0.0,
        "{text}"
    );
    assert_eq!(
        value(
            "scillm_deployment_cooldowns_total",
            &[("deployment", "m#0")]
        ),
        1.0,
        "{text}"
    );
}
