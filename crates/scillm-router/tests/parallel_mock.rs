//! Parallel calls through the real openai provider against the mock upstream: order,
//! bounded in-flight requests, 1,000 mixed results, fail_fast.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{item, meta, router};
use scillm_core::ErrorKind;
use scillm_router::{ErrorType, ParallelOptions};
use scillm_testkit::chat_mock::{ChatMock, MockReply, RecordedRequest};
use serde_json::{json, Value};

/// `delay:<ms>:<reply>` → reply after ms; anything else is echoed.
fn delayed(req: &RecordedRequest) -> MockReply {
    let text = req.last_text();
    match text.strip_prefix("delay:").and_then(|r| r.split_once(':')) {
        Some((ms, reply)) => {
            MockReply::ok(reply).with_delay(Duration::from_millis(ms.parse().unwrap()))
        }
        None => MockReply::ok(text),
    }
}

fn deployment(mock: &ChatMock, name: &str, extra: Value) -> Value {
    let mut d = json!({"model_name": name, "provider": "openai", "api_base": mock.base_url()});
    if let (Value::Object(d), Value::Object(e)) = (&mut d, extra) {
        d.extend(e);
    }
    d
}

#[tokio::test]
async fn order_is_kept_when_latencies_are_reversed() {
    let mock = ChatMock::builder()
        .respond_with(delayed)
        .start()
        .await
        .unwrap();
    let r = router(json!([deployment(&mock, "m", json!({}))]), &[]);
    let n = 8;
    let items: Vec<Value> = (0..n)
        .map(|i| item("m", &format!("delay:{}:answer-{i}", (n - i) * 25)))
        .collect();
    let out = r
        .parallel(items, ParallelOptions::new().concurrency(n))
        .await;
    assert_eq!(out.len(), n);
    for (i, res) in out.iter().enumerate() {
        assert_eq!(res.content(), format!("answer-{i}"));
        assert_eq!(res.meta.index, i);
        assert_eq!(meta(res)["provider"], "openai");
    }
    assert_eq!(mock.request_count(), n);
}

#[tokio::test]
async fn the_upstream_never_sees_more_than_the_concurrency_limit() {
    let mock = ChatMock::builder()
        .latency(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let r = router(json!([deployment(&mock, "m", json!({}))]), &[]);
    let items: Vec<Value> = (0..40).map(|i| item("m", &format!("q{i}"))).collect();
    let out = r
        .parallel(items, ParallelOptions::new().concurrency(4))
        .await;
    assert!(out.iter().all(|r| r.is_ok()));
    assert_eq!(mock.request_count(), 40);
    assert!(
        mock.max_in_flight() <= 4,
        "max in flight {}",
        mock.max_in_flight()
    );
    assert!(mock.max_in_flight() >= 1);
}

#[tokio::test]
async fn max_parallel_requests_bounds_one_deployment() {
    let mock = ChatMock::builder()
        .latency(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let dep = deployment(&mock, "m", json!({"max_parallel_requests": 3}));
    let r = router(json!([dep]), &[]);
    let items: Vec<Value> = (0..30).map(|i| item("m", &format!("q{i}"))).collect();
    let out = r
        .parallel(items, ParallelOptions::new().concurrency(16))
        .await;
    assert!(out.iter().all(|r| r.is_ok()));
    assert!(
        mock.max_in_flight() <= 3,
        "max in flight {}",
        mock.max_in_flight()
    );
}

/// What item `i` of the mixed batch does, and the class its result must have.
fn mixed(i: usize) -> (Value, ErrorType, Option<ErrorKind>) {
    let mut v = item("m", &format!("{i}"));
    match i % 10 {
        _ if i.is_multiple_of(50) => {
            v.as_object_mut().unwrap().remove("messages");
            (v, ErrorType::ProviderError, Some(ErrorKind::InvalidRequest))
        }
        3 => (v, ErrorType::ProviderError, Some(ErrorKind::Server)),
        5 => (v, ErrorType::ProviderError, Some(ErrorKind::BadRequest)),
        7 => (v, ErrorType::EmptyContent, None),
        9 => {
            v["response_format"] = json!({"type": "json_object"});
            (v, ErrorType::InvalidJson, None)
        }
        _ => (v, ErrorType::Ok, None),
    }
}

#[tokio::test]
async fn a_thousand_mixed_requests_give_a_thousand_classified_results() {
    let mock = ChatMock::builder()
        .record(false)
        .respond_with(|req| {
            let i: usize = req.last_text().parse().unwrap();
            match i % 10 {
                3 => MockReply::status(500),
                5 => MockReply::status(400),
                7 => MockReply::ok(""),
                9 => MockReply::ok("{not json"),
                _ => MockReply::ok(format!("answer {i}")),
            }
        })
        .start()
        .await
        .unwrap();
    // No retries: the upstream sees each valid item exactly once.
    let r = router(
        json!([deployment(&mock, "m", json!({}))]),
        &[("router.num_retries", json!(0))],
    );
    let n = 1000;
    let (items, expected): (Vec<Value>, Vec<_>) = (0..n)
        .map(|i| {
            let (v, t, k) = mixed(i);
            (v, (t, k))
        })
        .unzip();
    let out = r
        .parallel(items, ParallelOptions::new().concurrency(32))
        .await;
    assert_eq!(out.len(), n);
    for (i, (res, (t, k))) in out.iter().zip(expected).enumerate() {
        assert_eq!(res.meta.index, i);
        assert_eq!(res.meta.error_type, t, "item {i}: {:?}", res.meta);
        assert_eq!(res.meta.error_kind, k, "item {i}");
        if t == ErrorType::Ok {
            assert_eq!(res.content(), format!("answer {i}"));
        }
        if t == ErrorType::InvalidJson {
            assert_eq!(res.content(), "{not json");
            assert_eq!(res.meta.json_valid, Some(false));
        }
    }
    assert_eq!(mock.request_count(), n - n / 50);
}

#[tokio::test]
async fn fail_fast_returns_the_first_failure_and_stops_sending() {
    let mock = ChatMock::builder()
        .respond_with(|req| match req.last_text().as_str() {
            "boom" => MockReply::status(500),
            _ => MockReply::ok("slow").with_delay(Duration::from_secs(5)),
        })
        .start()
        .await
        .unwrap();
    let r = router(json!([deployment(&mock, "m", json!({}))]), &[]);
    let n = 40;
    let mut items = vec![item("m", "boom")];
    items.extend((1..n).map(|i| item("m", &format!("q{i}"))));
    let out = r
        .parallel(items, ParallelOptions::new().concurrency(4).fail_fast(true))
        .await;
    assert_eq!(out.len(), n);
    assert_eq!(out[0].meta.error_kind, Some(ErrorKind::Server));
    let cancelled = out
        .iter()
        .filter(|r| r.meta.error_kind == Some(ErrorKind::Cancelled))
        .count();
    assert_eq!(cancelled, n - 1);
    assert!(
        mock.request_count() < n,
        "upstream got {}",
        mock.request_count()
    );
}
