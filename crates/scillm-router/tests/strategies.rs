//! Each routing strategy's choice on scripted deployments (SPEC §13).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{item, router};
use scillm_router::ParallelOptions;
use scillm_testkit::chat_mock::ChatMock;
use serde_json::{json, Value};

async fn mock(latency_ms: u64) -> ChatMock {
    ChatMock::builder()
        .latency(Duration::from_millis(latency_ms))
        .start()
        .await
        .unwrap()
}

fn dep(m: &ChatMock, extra: Value) -> Value {
    let mut d = json!({"model_name": "m", "provider": "openai", "api_base": m.base_url()});
    if let (Value::Object(d), Value::Object(e)) = (&mut d, extra) {
        d.extend(e);
    }
    d
}

#[tokio::test]
async fn simple_shuffle_respects_weights_with_a_seeded_rng() {
    let (a, b) = (mock(0).await, mock(0).await);
    let r = router(
        json!([dep(&a, json!({"weight": 3})), dep(&b, json!({"weight": 1}))]),
        &[("router.seed", json!(42))],
    );
    let n = 400;
    for _ in 0..n {
        assert!(r.completion(item("m", "q")).await.is_ok());
    }
    // Expected 300 for a; the standard deviation is √(400·¾·¼) ≈ 8.7: allow 3.5σ.
    let got = a.request_count();
    assert!((270..=330).contains(&got), "weight 3 of 4 got {got} of {n}");
    assert_eq!(got + b.request_count(), n);
}

#[tokio::test]
async fn least_busy_picks_the_emptier_deployment() {
    let (a, b) = (mock(300).await, mock(300).await);
    let r = router(
        json!([dep(&a, json!({})), dep(&b, json!({}))]),
        &[("router.routing_strategy", json!("least-busy"))],
    );
    let items: Vec<_> = (0..6).map(|i| item("m", &format!("q{i}"))).collect();
    let out = r
        .parallel(items, ParallelOptions::new().concurrency(6))
        .await;
    assert!(out.iter().all(|r| r.is_ok()));
    assert_eq!((a.max_in_flight(), b.max_in_flight()), (3, 3));
}

#[tokio::test]
async fn latency_based_picks_the_faster_deployment() {
    let (slow, fast) = (mock(60).await, mock(0).await);
    let r = router(
        json!([dep(&slow, json!({})), dep(&fast, json!({}))]),
        &[("router.routing_strategy", json!("latency-based-routing"))],
    );
    for _ in 0..20 {
        assert!(r.completion(item("m", "q")).await.is_ok());
    }
    // Each is measured once, then the faster one takes every request.
    assert_eq!(slow.request_count(), 1);
    assert_eq!(fast.request_count(), 19);
}

#[tokio::test]
async fn usage_based_picks_the_lowest_share_of_its_limit() {
    let (big, small) = (mock(0).await, mock(0).await);
    let r = router(
        json!([
            dep(&big, json!({"rpm": 1000})),
            dep(&small, json!({"rpm": 100}))
        ]),
        &[("router.routing_strategy", json!("usage-based"))],
    );
    for _ in 0..22 {
        assert!(r.completion(item("m", "q")).await.is_ok());
    }
    // Shares stay level: the deployment with 10× the limit takes about 10× the requests.
    assert_eq!((big.request_count(), small.request_count()), (20, 2));
}

#[tokio::test]
async fn order_keeps_lower_priority_deployments_idle_while_the_first_is_healthy() {
    let (first, second) = (mock(0).await, mock(0).await);
    let r = router(
        json!([
            dep(&second, json!({"order": 2})),
            dep(&first, json!({"order": 1}))
        ]),
        &[],
    );
    for _ in 0..10 {
        assert!(r.completion(item("m", "q")).await.is_ok());
    }
    assert_eq!((first.request_count(), second.request_count()), (10, 0));
}
