//! Router-level retries and failover against mock upstreams (SPEC §13): a 429 with a long
//! wait hint next to a healthy deployment, every deployment cooling, `num_retries` across
//! targets, retry stats of timed-out items, openai deployments' own settings, streams
//! through the same loop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{item, meta, router};
use futures::StreamExt;
use scillm_core::wire::{ChatRequest, Message};
use scillm_core::ErrorKind;
use scillm_router::{ParallelOptions, RouterRequest};
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::{json, Value};

fn dep(name: &str, m: &ChatMock, extra: Value) -> Value {
    let mut d = json!({"model_name": name, "provider": "openai", "api_base": m.base_url()});
    if let (Value::Object(d), Value::Object(e)) = (&mut d, extra) {
        d.extend(e);
    }
    d
}

async fn limited(hint: &'static str) -> ChatMock {
    ChatMock::builder()
        .respond_with(move |_| MockReply::status(429).with_retry_after(hint))
        .start()
        .await
        .unwrap()
}

async fn ok(content: &str) -> ChatMock {
    ChatMock::builder().content(content).start().await.unwrap()
}

#[tokio::test]
async fn a_429_with_a_long_hint_fails_over_at_once_and_cools_down() {
    let (slow, healthy) = (limited("20").await, ok("fine").await);
    // `order` makes the limited deployment the preferred one while it is healthy.
    let r = router(
        json!([
            dep("m", &slow, json!({"order": 1})),
            dep("m", &healthy, json!({"order": 2}))
        ]),
        &[("router.timeout_s", json!(60))],
    );
    let batch = || {
        (0..4)
            .map(|i| item("m", &format!("q{i}")))
            .collect::<Vec<_>>()
    };
    let out = r.parallel(batch(), ParallelOptions::new()).await;
    for res in &out {
        assert!(res.is_ok(), "{:?}", res.meta);
        assert_eq!(res.content(), "fine");
        assert_eq!(meta(res)["deployment"], "m#1");
        assert!(res.meta.timing_ms < 1000, "took {} ms", res.meta.timing_ms);
    }
    let first_calls = slow.request_count();
    assert!(
        (1..=4).contains(&first_calls),
        "items that started together may each meet the 429 once: {first_calls}"
    );
    let started = Instant::now();
    let out = r.parallel(batch(), ParallelOptions::new()).await;
    assert!(out.iter().all(|r| r.is_ok()));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        slow.request_count(),
        first_calls,
        "the cooling deployment is not called during its cooldown"
    );
    assert_eq!(healthy.request_count(), 8);
}

#[tokio::test]
async fn all_cooling_waits_for_the_first_recovery_within_the_deadline() {
    let script = || {
        ChatMock::builder()
            .then(MockReply::status(429).with_retry_after("1"))
            .content("after the wait")
            .start()
    };
    let (a, b) = (script().await.unwrap(), script().await.unwrap());
    let r = router(
        json!([dep("m", &a, json!({})), dep("m", &b, json!({}))]),
        &[
            ("router.timeout_s", json!(10)),
            ("router.retry_meta", json!(true)),
        ],
    );
    let started = Instant::now();
    let res = r.completion(item("m", "q")).await;
    assert!(res.is_ok(), "{:?}", res.meta);
    assert_eq!(res.content(), "after the wait");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let retries = &meta(&res)["retries"];
    assert_eq!(retries["attempts"], 2, "{retries}");
    assert!(
        retries["total_sleep_ms"].as_u64().unwrap() >= 900,
        "{retries}"
    );
    assert_eq!(a.request_count() + b.request_count(), 3);
}

#[tokio::test]
async fn all_cooling_past_the_deadline_ends_rate_limited_without_waiting() {
    let (a, b) = (limited("30").await, limited("30").await);
    let r = router(
        json!([dep("m", &a, json!({})), dep("m", &b, json!({}))]),
        &[("router.timeout_s", json!(5))],
    );
    let started = Instant::now();
    let res = r.completion(item("m", "q")).await;
    assert_eq!(
        res.meta.error_kind,
        Some(ErrorKind::RateLimited),
        "{:?}",
        res.meta
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(res
        .meta
        .exception
        .as_deref()
        .unwrap()
        .contains("cooling down"));
    assert_eq!(a.request_count() + b.request_count(), 2);
    // The next item does not call either while they cool.
    let res = r.completion(item("m", "q")).await;
    assert_eq!(res.meta.error_kind, Some(ErrorKind::RateLimited));
    assert_eq!(a.request_count() + b.request_count(), 2);
}

#[tokio::test]
async fn without_a_deadline_the_router_waits_for_recovery_up_to_its_own_max_retry_after() {
    // SPEC §13: `[router]` holds the defaults of every deployment; `codex_agent.*` is for
    // codex-agent's own retry loop only.
    for (keys, waits) in [
        (vec![("router.max_retry_after_s", json!(1))], false),
        (vec![("codex_agent.max_retry_after_s", json!(1))], true),
    ] {
        let (a, b) = (limited("2").await, limited("2").await);
        let r = router(
            json!([dep("m", &a, json!({})), dep("m", &b, json!({}))]),
            &keys,
        );
        let started = Instant::now();
        let res = r.completion(item("m", "q")).await;
        assert_eq!(
            res.meta.error_kind,
            Some(ErrorKind::RateLimited),
            "{keys:?}"
        );
        if waits {
            // Both cool for 2 s, within the router's default 60 s: it waits, then the
            // recovered deployment is asked again (and answers 429 again).
            assert!(started.elapsed() >= Duration::from_millis(1500), "{keys:?}");
            assert_eq!(a.request_count() + b.request_count(), 3, "{keys:?}");
        } else {
            assert!(started.elapsed() < Duration::from_secs(1), "{keys:?}");
            assert_eq!(a.request_count() + b.request_count(), 2, "{keys:?}");
        }
    }
}

#[tokio::test]
async fn num_retries_bounds_attempts_across_targets() {
    let down = || {
        ChatMock::builder()
            .respond_with(|_| MockReply::status(503))
            .start()
    };
    let (a, b, c) = (
        down().await.unwrap(),
        down().await.unwrap(),
        down().await.unwrap(),
    );
    let r = router(
        json!([
            dep("m", &a, json!({})),
            dep("m", &b, json!({})),
            dep("m", &c, json!({}))
        ]),
        &[
            ("router.num_retries", json!(1)),
            ("router.retry_meta", json!(true)),
        ],
    );
    let res = r.completion(item("m", "q")).await;
    assert_eq!(res.meta.error_kind, Some(ErrorKind::Server));
    assert_eq!(a.request_count() + b.request_count() + c.request_count(), 2);
    assert_eq!(meta(&res)["retries"]["attempts"], 1);
    // Two different deployments were tried, each once: failover, not a provider retry.
    let counts = [a.request_count(), b.request_count(), c.request_count()];
    assert_eq!(counts.iter().filter(|&&n| n == 1).count(), 2, "{counts:?}");
}

#[tokio::test]
async fn a_lone_target_uses_the_provider_retry_loop_with_the_openai_settings() {
    let m = ChatMock::builder()
        .script([MockReply::status(503), MockReply::status(503)])
        .content("third")
        .start()
        .await
        .unwrap();
    // codex_agent.* says no retries; an openai deployment does not read it.
    let r = router(
        json!([dep("m", &m, json!({"num_retries": 2}))]),
        &[
            ("codex_agent.max_retries", json!(0)),
            ("router.retry_meta", json!(true)),
        ],
    );
    let res = r.completion(item("m", "q")).await;
    assert!(res.is_ok(), "{:?}", res.meta);
    assert_eq!(m.request_count(), 3);
    assert_eq!(meta(&res)["retries"]["attempts"], 2);
}

/// An upstream answering 503 twice, then taking 30 s: the third attempt is in flight when
/// the item is cut short.
async fn two_503s_then_a_hang() -> ChatMock {
    ChatMock::builder()
        .script([
            MockReply::status(503),
            MockReply::status(503),
            MockReply::ok("too late").with_delay(Duration::from_secs(30)),
        ])
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_timed_out_item_reports_the_retries_it_made() {
    let m = two_503s_then_a_hang().await;
    let r = router(
        json!([dep("m", &m, json!({}))]),
        &[
            ("router.timeout_s", json!(1.5)),
            ("router.retry_meta", json!(true)),
            ("router.seed", json!(1)),
        ],
    );
    let res = r.completion(item("m", "q")).await;
    assert_eq!(
        res.meta.error_kind,
        Some(ErrorKind::Timeout),
        "{:?}",
        res.meta
    );
    let retries = &meta(&res)["retries"];
    assert_eq!(retries["attempts"], 2, "{retries}");
    assert!(
        retries.get("statuses").is_none(),
        "full record only with metrics"
    );

    // With CODEX_AGENT_ENABLE_METRICS=1: the full record, statuses once each.
    let m = two_503s_then_a_hang().await;
    let r = router(
        json!([dep("m", &m, json!({}))]),
        &[
            ("router.timeout_s", json!(1.5)),
            ("codex_agent.enable_metrics", json!(true)),
        ],
    );
    let res = r.completion(item("m", "q")).await;
    assert_eq!(res.meta.error_kind, Some(ErrorKind::Timeout));
    let retries = &meta(&res)["retries"];
    assert_eq!(retries["attempts"], 2, "{retries}");
    // The third attempt failed too: it was cut off at the deadline, without a status.
    assert_eq!(retries["failures"], 3);
    assert_eq!(retries["statuses"], json!([503]));
    assert_eq!(retries["first_failure_status"], 503);
    assert!(retries.get("final_status").is_none(), "{retries}");
    assert_eq!(retries["retry_sequence"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_cancelled_item_reports_the_retries_it_made() {
    let m = two_503s_then_a_hang().await;
    let r = router(
        json!([dep("m", &m, json!({}))]),
        &[
            ("router.retry_meta", json!(true)),
            ("router.seed", json!(1)),
        ],
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    // Cancel (as Ctrl-C does in `scillm batch`) once the third attempt is in flight.
    let watch = async {
        while m.request_count() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cancel.cancel();
    };
    let run = r.parallel(
        vec![item("m", "q")],
        ParallelOptions::new().cancel_with(cancel.clone()),
    );
    let (out, ()) = tokio::join!(run, watch);
    let res = &out[0];
    assert_eq!(
        res.meta.error_kind,
        Some(ErrorKind::Cancelled),
        "{:?}",
        res.meta
    );
    let retries = &meta(res)["retries"];
    assert_eq!(retries["attempts"], 2, "{retries}");
}

#[tokio::test]
async fn failover_across_deployments_is_in_the_full_record() {
    let (a, b) = (
        ChatMock::builder()
            .respond_with(|_| MockReply::status(502))
            .start()
            .await
            .unwrap(),
        ok("b").await,
    );
    let r = router(
        json!([
            dep("m", &a, json!({"order": 1})),
            dep("m", &b, json!({"order": 2}))
        ]),
        &[("codex_agent.enable_metrics", json!(true))],
    );
    let res = r.completion(item("m", "q")).await;
    assert!(res.is_ok());
    let retries = &meta(&res)["retries"];
    assert_eq!(retries["attempts"], 1);
    assert_eq!(retries["statuses"], json!([502, 200]));
    assert_eq!(retries["retry_sequence"], json!([0]));
    assert_eq!(retries["final_status"], 200);
}

fn stream_request(model: &str) -> RouterRequest {
    RouterRequest::new(ChatRequest::new(model, vec![Message::user("hi")]))
}

#[tokio::test]
async fn streams_fail_over_and_skip_cooling_deployments() {
    let (slow, healthy) = (limited("20").await, ok("streamed").await);
    let r = router(
        json!([
            dep("m", &slow, json!({"order": 1})),
            dep("m", &healthy, json!({"order": 2}))
        ]),
        &[],
    );
    for _ in 0..3 {
        let opened = r.stream_completion(stream_request("m")).await.unwrap();
        assert_eq!(opened.meta.deployment.as_deref(), Some("m#1"));
        let text: String = opened
            .stream
            .map(|c| {
                c.unwrap()
                    .choices
                    .first()
                    .map(|c| c.delta.text_str().to_string())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .await
            .concat();
        assert_eq!(text, "streamed");
    }
    assert_eq!(slow.request_count(), 1);
}

#[tokio::test]
async fn streams_take_deployment_slots_and_the_timeout() {
    let m = ok("s").await;
    let r = router(
        json!([dep("m", &m, json!({"max_parallel_requests": 1}))]),
        &[("router.timeout_s", json!(0.5))],
    );
    let first = r.chat_stream(stream_request("m")).await.unwrap();
    // The slot is held while the first stream is open: the second cannot start in time.
    let second = r.stream_completion(stream_request("m")).await.unwrap_err();
    assert_eq!(
        second.meta.error_kind,
        Some(ErrorKind::Timeout),
        "{:?}",
        second.meta
    );
    drop(first);
    let third = r.stream_completion(stream_request("m")).await.unwrap();
    assert_eq!(third.meta.deployment.as_deref(), Some("m#0"));
}
