//! Rate limits as admission (SPEC §13): with `rpm` / `tpm` on a deployment, items wait for
//! capacity (counted in `queue_ms`) instead of being sent and refused. The mock upstream
//! enforces the same limit over a sliding second and would answer 429 past it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{item, router};
use scillm_router::ParallelOptions;
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::json;

/// A mock that records arrival times and answers 429 when the `cost` of the requests
/// that arrived in the last second (this one included) exceeds `per_second_cap`.
async fn limited_mock(
    per_second_cap: u64,
    cost: u64,
    reply: impl Fn() -> MockReply + Send + Sync + 'static,
) -> (ChatMock, Arc<Mutex<Vec<Instant>>>, Arc<Mutex<u32>>) {
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let refused = Arc::new(Mutex::new(0u32));
    let (a, r) = (Arc::clone(&arrivals), Arc::clone(&refused));
    let mock = ChatMock::builder()
        .respond_with(move |_| {
            let now = Instant::now();
            let mut seen = a.lock().unwrap();
            seen.push(now);
            let in_window = seen
                .iter()
                .filter(|t| now.duration_since(**t) < Duration::from_secs(1))
                .count() as u64;
            if in_window * cost > per_second_cap {
                *r.lock().unwrap() += 1;
                return MockReply::status(429).with_retry_after("1");
            }
            reply()
        })
        .start()
        .await
        .unwrap();
    (mock, arrivals, refused)
}

/// The largest number of arrivals within any one-second window.
fn max_per_second(arrivals: &[Instant]) -> usize {
    arrivals
        .iter()
        .map(|t| {
            arrivals
                .iter()
                .filter(|u| **u >= *t && u.duration_since(*t) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn rpm_makes_items_wait_instead_of_being_refused() {
    // rpm 120: 2 a second, burst 2. In any second at most 2 + 2 arrive; the mock
    // refuses a fifth (one of slack for scheduling jitter).
    let (mock, arrivals, refused) = limited_mock(4, 1, || MockReply::ok("ok")).await;
    let r = router(
        json!([{"model_name": "m", "provider": "openai", "api_base": mock.base_url(), "rpm": 120}]),
        &[],
    );
    let items: Vec<_> = (0..20).map(|i| item("m", &format!("q{i}"))).collect();
    let out = r
        .parallel(items, ParallelOptions::new().concurrency(20))
        .await;
    assert!(
        out.iter().all(|r| r.is_ok()),
        "{:?}",
        out.iter().find(|r| !r.is_ok()).map(|r| &r.meta)
    );
    assert_eq!(*refused.lock().unwrap(), 0, "the upstream answered 429");
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 20);
    assert!(
        max_per_second(&arrivals) <= 4,
        "{} in one second",
        max_per_second(&arrivals)
    );
    let span = arrivals
        .iter()
        .max()
        .unwrap()
        .duration_since(*arrivals.iter().min().unwrap());
    assert!(
        span >= Duration::from_millis(8500),
        "20 requests at 2/s took only {span:?}"
    );
    // queue_ms grows with the position in the admission queue: 500 ms a place after the
    // burst of 2.
    let mut queued: Vec<u64> = out.iter().map(|r| r.meta.queue_ms).collect();
    queued.sort_unstable();
    for (k, q) in queued.iter().enumerate().skip(2) {
        let floor = (k as u64 - 2) * 500;
        assert!(
            *q + 100 >= floor,
            "place {k} queued {q} ms, expected about {floor}"
        );
    }
    assert!(queued[0] < 100 && queued[19] >= 8500, "{queued:?}");
}

#[tokio::test]
async fn tpm_makes_items_wait_for_token_capacity() {
    // 400 characters = 100 tokens estimated; the mock reports 100 used, so the estimate
    // stands. tpm 24000 = 400 tokens a second, burst 400: 4 items a second.
    let body = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 0, "total_tokens": 100}});
    let (mock, arrivals, refused) = limited_mock(800, 100, move || MockReply {
        body: Some(body.clone()),
        ..MockReply::ok("")
    })
    .await;
    let r = router(
        json!([{"model_name": "m", "provider": "openai", "api_base": mock.base_url(), "tpm": 24000}]),
        &[],
    );
    let text = "x".repeat(400);
    let items: Vec<_> = (0..20).map(|_| item("m", &text)).collect();
    let out = r
        .parallel(items, ParallelOptions::new().concurrency(20))
        .await;
    assert!(out.iter().all(|r| r.is_ok()));
    assert_eq!(*refused.lock().unwrap(), 0, "the upstream answered 429");
    let arrivals = arrivals.lock().unwrap().clone();
    assert!(
        max_per_second(&arrivals) <= 8,
        "{}",
        max_per_second(&arrivals)
    );
    let span = arrivals
        .iter()
        .max()
        .unwrap()
        .duration_since(*arrivals.iter().min().unwrap());
    assert!(
        span >= Duration::from_millis(3500),
        "20 × 100 tokens at 400/s took {span:?}"
    );
    let mut queued: Vec<u64> = out.iter().map(|r| r.meta.queue_ms).collect();
    queued.sort_unstable();
    assert!(queued[19] >= 3500, "{queued:?}");
}

/// 20 items of 100 estimated tokens each, one after another, through `send` on a
/// deployment with tpm 24000 (400 tokens a second); the mock reports 2 tokens used.
/// Returns how long they took: with the charge corrected by the real usage, far less
/// than the 4 s the estimate alone would need.
async fn twenty_items_at_tpm_24000<F, Fut>(send: F) -> Duration
where
    F: Fn(scillm_router::Router, serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mock = ChatMock::builder().content("ok").start().await.unwrap();
    let r = router(
        json!([{"model_name": "m", "provider": "openai", "api_base": mock.base_url(), "tpm": 24000}]),
        &[],
    );
    let text = "x".repeat(400);
    let started = Instant::now();
    for _ in 0..20 {
        send(r.clone(), item("m", &text)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn real_usage_below_the_estimate_lets_later_items_through_sooner() {
    let took = twenty_items_at_tpm_24000(|r, req| async move {
        assert!(r.completion(req).await.is_ok());
    })
    .await;
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_streamed_answer_s_usage_corrects_the_charge_too() {
    // Through `chat_stream`: the usage chunk (`include_usage`) settles the charge when
    // the stream ends.
    use futures::StreamExt;
    let took = twenty_items_at_tpm_24000(|r, mut req| async move {
        req["stream"] = json!(true);
        req["stream_options"] = json!({"include_usage": true});
        let req = scillm_router::RouterRequest::from_value(req).unwrap();
        let mut s = r.chat_stream(req).await.unwrap();
        let mut usage = None;
        while let Some(c) = s.next().await {
            usage = c.unwrap().usage.or(usage);
        }
        assert_eq!(usage.map(|u| u.total_tokens), Some(2));
    })
    .await;
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_wait_past_the_deadline_is_rate_limited() {
    let mock = ChatMock::builder().content("ok").start().await.unwrap();
    // rpm 6: one request per 10 s.
    let r = router(
        json!([{"model_name": "m", "provider": "openai", "api_base": mock.base_url(), "rpm": 6}]),
        &[("router.timeout_s", json!(2))],
    );
    assert!(r.completion(item("m", "first")).await.is_ok());
    let started = Instant::now();
    let res = r.completion(item("m", "second")).await;
    assert_eq!(
        res.meta.error_kind,
        Some(scillm_core::ErrorKind::RateLimited),
        "{:?}",
        res.meta
    );
    assert!(res.meta.exception.as_deref().unwrap().contains("rpm"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused without waiting"
    );
    assert_eq!(mock.request_count(), 1);
}
