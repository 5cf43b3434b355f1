//! Resolution and deployments against mock upstreams: load sharing, cooldown after 429,
//! a timeout, a non-chat answer or a dropped connection, fallbacks, per-request provider, the codex-agent fast path, retry metadata.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{item, meta, router};
use scillm_core::retry::Jitter;
use scillm_core::{ErrorKind, RetryPolicy};
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::json;

async fn mock(content: &str) -> ChatMock {
    ChatMock::builder().content(content).start().await.unwrap()
}

async fn always(status: u16) -> ChatMock {
    ChatMock::builder()
        .respond_with(move |_| MockReply::status(status))
        .start()
        .await
        .unwrap()
}

fn dep(name: &str, m: &ChatMock) -> serde_json::Value {
    json!({"model_name": name, "provider": "openai", "api_base": m.base_url()})
}

#[tokio::test]
async fn deployments_of_one_model_share_the_load() {
    let (a, b) = (mock("a").await, mock("b").await);
    let r = router(
        json!([dep("rot", &a), dep("rot", &b)]),
        &[("router.seed", json!(3))],
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let res = r.completion(item("rot", "q")).await;
        assert!(res.is_ok());
        seen.insert(meta(&res)["deployment"].as_str().unwrap().to_string());
    }
    assert_eq!(a.request_count() + b.request_count(), 20);
    assert!(
        a.request_count() >= 3 && b.request_count() >= 3,
        "{} / {}",
        a.request_count(),
        b.request_count()
    );
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["rot#0", "rot#1"]);
}

#[tokio::test]
async fn a_deployment_that_answers_429_cools_down() {
    let (limited, healthy) = (always(429).await, mock("fine").await);
    let r = router(
        json!([dep("cool", &limited), dep("cool", &healthy)]),
        &[("router.cooldown_s", json!(600))],
    );
    for i in 0..6 {
        let res = r.completion(item("cool", "q")).await;
        assert!(res.is_ok(), "request {i}: {:?}", res.meta);
        assert_eq!(res.content(), "fine");
        assert_eq!(meta(&res)["deployment"], "cool#1");
    }
    assert_eq!(
        limited.request_count(),
        1,
        "the 429 deployment was skipped while cooling"
    );
    assert_eq!(healthy.request_count(), 6);
}

/// A loopback server that accepts connections and closes them at once, and the count of
/// connections it accepted.
fn dropping_server() -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (base, accepted)
}

/// How many calls an upstream has had.
type CallCount<'a> = Box<dyn Fn() -> usize + 'a>;

#[tokio::test]
async fn a_deployment_that_times_out_answers_garbage_or_drops_connections_cools_down() {
    // SPEC §13: connect, timeout and invalid_response are retryable failures like 429 and
    // 5xx; the failed deployment cools down, so later requests go straight to the healthy one.
    let garbage = ChatMock::builder()
        .respond_with(|_| MockReply::raw(200, "<html>maintenance</html>"))
        .start()
        .await
        .unwrap();
    let hung = ChatMock::builder()
        .latency(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let (dropping, accepted) = dropping_server();
    let cases: [(&str, String, serde_json::Value, CallCount<'_>); 3] = [
        (
            "a non-chat answer",
            garbage.base_url(),
            json!({}),
            Box::new(|| garbage.request_count()),
        ),
        (
            "a timeout",
            hung.base_url(),
            json!({"timeout_s": 0.3}),
            Box::new(|| hung.request_count()),
        ),
        (
            "a dropped connection",
            dropping,
            json!({}),
            Box::new(move || accepted.load(Ordering::SeqCst)),
        ),
    ];
    for (case, bad_base, extra, calls) in cases {
        let healthy = mock("fine").await;
        let mut bad =
            json!({"model_name": "m", "provider": "openai", "api_base": bad_base, "order": 1});
        if let (Some(b), Some(e)) = (bad.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let mut good = dep("m", &healthy);
        good["order"] = json!(2);
        let r = router(json!([bad, good]), &[("router.cooldown_s", json!(600))]);
        for i in 0..4 {
            let res = r.completion(item("m", "q")).await;
            assert!(res.is_ok(), "{case}, request {i}: {:?}", res.meta);
            assert_eq!(meta(&res)["deployment"], "m#1", "{case}");
        }
        assert_eq!(
            calls(),
            1,
            "{case}: the failed deployment is skipped while cooling"
        );
        assert_eq!(healthy.request_count(), 4, "{case}");
    }
}

#[tokio::test]
async fn a_timeout_the_callers_own_deadline_caused_does_not_cool_the_deployment() {
    // A client's short `timeout` is the client's doing: cooling the deployment for it would
    // let any caller take a model's deployments out of rotation.
    let (slow, healthy) = (
        ChatMock::builder()
            .latency(Duration::from_secs(30))
            .start()
            .await
            .unwrap(),
        mock("fine").await,
    );
    let mut first = dep("m", &slow);
    first["order"] = json!(1);
    let mut second = dep("m", &healthy);
    second["order"] = json!(2);
    let r = router(json!([first, second]), &[("router.cooldown_s", json!(600))]);
    for i in 0..2 {
        let mut hurried = item("m", "q");
        hurried["timeout"] = json!(0.2);
        let res = r.completion(hurried).await;
        assert_eq!(
            res.meta.error_kind,
            Some(ErrorKind::Timeout),
            "request {i}: {:?}",
            res.meta
        );
    }
    assert_eq!(
        slow.request_count(),
        2,
        "the deployment was not cooled down"
    );
    assert_eq!(healthy.request_count(), 0);
}

#[tokio::test]
async fn a_failing_model_falls_back_to_another_model_name() {
    let (down, backup) = (always(503).await, mock("from backup").await);
    let r = router(
        json!([dep("primary", &down), dep("backup", &backup)]),
        &[("router.fallbacks", json!({"primary": ["backup"]}))],
    );
    let res = r.completion(item("primary", "q")).await;
    assert!(res.is_ok(), "{:?}", res.meta);
    assert_eq!(res.content(), "from backup");
    let m = meta(&res);
    assert_eq!(m["deployment"], "backup#0");
    assert_eq!(m["model_fallback"], "backup");
    assert_eq!(down.request_count(), 1);
    // Without fallbacks the failure is reported with its status.
    let r = router(json!([dep("primary", &down)]), &[]);
    let res = r.completion(item("primary", "q")).await;
    let m = meta(&res);
    assert_eq!(m["error_type"], "provider_error");
    assert_eq!(m["error_kind"], "server");
    assert_eq!(m["status"], 503);
    assert_eq!(res.content(), "");
}

#[tokio::test]
async fn a_per_request_provider_is_called_directly() {
    let m = mock("direct").await;
    let r = router(json!([]), &[]);
    let mut raw = item("any-model", "q");
    raw["custom_llm_provider"] = json!("openai");
    raw["api_base"] = json!(m.base_url());
    raw["api_key"] = json!("sk-test-direct");
    let res = r.completion(raw).await;
    assert!(res.is_ok(), "{:?}", res.meta);
    let meta = meta(&res);
    assert_eq!(meta["provider"], "openai");
    assert_eq!(meta["deployment"], "direct:openai");
    let sent = &m.requests()[0];
    assert_eq!(sent.model(), "any-model");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test-direct"));
    assert!(
        !res.to_value().to_string().contains("sk-test-direct"),
        "key leaked into the result"
    );
}

#[tokio::test]
async fn the_codex_agent_prefix_always_selects_codex_agent() {
    let m = mock("codex answer").await;
    let r = router(json!([]), &[("codex_agent.api_base", json!(m.base_url()))]);
    for model in ["codex-agent/gpt-5", "codex-agent/o3"] {
        let res = r.completion(item(model, "q")).await;
        assert!(res.is_ok(), "{:?}", res.meta);
        assert_eq!(meta(&res)["provider"], "codex-agent");
        assert_eq!(meta(&res)["deployment"], "codex-agent");
    }
    let mut raw = item("gpt-5", "q");
    raw["custom_llm_provider"] = json!("codex-agent");
    let res = r.completion(raw).await;
    assert_eq!(meta(&res)["provider"], "codex-agent");
    let sent = m.requests();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].model(), "gpt-5");
    assert_eq!(sent[0].header("x-codex-force-local"), Some("1"));
}

#[tokio::test]
async fn an_unknown_model_is_a_clear_error() {
    let r = router(json!([]), &[]);
    let res = r.completion(item("gpt-4o", "q")).await;
    assert_eq!(res.meta.error_kind, Some(ErrorKind::NotFound));
    let msg = res.meta.exception.clone().unwrap();
    assert!(
        msg.contains("unknown model `gpt-4o`") && msg.contains("codex-agent/"),
        "{msg}"
    );
}

fn retry_router(m: &ChatMock, retry_meta: bool) -> scillm_router::Router {
    router(
        json!([{"model_name": "c", "provider": "codex-agent", "api_base": m.base_url()}]),
        &[
            ("router.retry_meta", json!(retry_meta)),
            ("router.num_retries", json!(2)),
            ("codex_agent.max_retries", json!(2)),
            ("codex_agent.retry_base_ms", json!(5)),
            ("codex_agent.deterministic_seed", json!(7)),
        ],
    )
}

#[tokio::test]
async fn retry_meta_reports_two_retries_after_two_503s() {
    let m = ChatMock::builder()
        .script([MockReply::status(503), MockReply::status(503)])
        .content("third time")
        .start()
        .await
        .unwrap();
    let res = retry_router(&m, true).completion(item("c", "q")).await;
    assert!(res.is_ok(), "{:?}", res.meta);
    assert_eq!(m.request_count(), 3);
    let policy = RetryPolicy {
        base: std::time::Duration::from_millis(5),
        seed: Some(7),
        ..RetryPolicy::default()
    };
    let mut jitter = Jitter::seeded(7);
    let expected: u128 = (1..=2)
        .map(|n| policy.backoff(n, jitter.next_unit()).as_millis())
        .sum();
    let retries = &meta(&res)["retries"];
    assert_eq!(retries["attempts"], 2);
    assert_eq!(retries["total_sleep_ms"], json!(expected as u64));
    assert_eq!(retries["last_retry_after_s"], json!(null));
    // A failure reports its retries too.
    let down = always(503).await;
    let res = retry_router(&down, true).completion(item("c", "q")).await;
    assert_eq!(meta(&res)["error_kind"], "server");
    assert_eq!(meta(&res)["retries"]["attempts"], 2);
}

#[tokio::test]
async fn retry_meta_is_absent_unless_asked_for() {
    let m = ChatMock::builder()
        .then(MockReply::status(503))
        .start()
        .await
        .unwrap();
    let res = retry_router(&m, false).completion(item("c", "q")).await;
    assert!(res.is_ok());
    assert!(meta(&res).get("retries").is_none());
    let cfg = scillm_core::config::ConfigLoader::new()
        .no_file()
        .env_from([("SCILLM_RETRY_META", "1")])
        .load()
        .unwrap();
    assert!(cfg.router.retry_meta, "SCILLM_RETRY_META=1 turns it on");
}

#[tokio::test]
async fn an_item_the_gateway_would_refuse_is_an_invalid_request_and_never_sent() {
    let m = mock("never").await;
    let r = router(json!([dep("m", &m)]), &[]);
    let mut no_messages = item("m", "q");
    no_messages["messages"] = json!([]);
    let mut bad_format = item("m", "q");
    bad_format["response_format"] = json!({"type": "yaml"});
    // Schema-first with the schema beside the request: valid once the router has set
    // `response_format` from it.
    let mut schema_first = item("m", "q");
    schema_first["response_mode"] = json!("schema_first");
    schema_first["response_format"] = json!({"type": "json_schema"});
    schema_first["json_schema"] = json!({"type": "object"});
    let out = r
        .parallel(
            vec![no_messages, bad_format, item("m", "fine"), schema_first],
            scillm_router::ParallelOptions::new(),
        )
        .await;
    assert_eq!(out.len(), 4);
    assert_eq!(out[3].meta.error_kind, None, "{:?}", out[3].meta);
    for (res, param) in out.iter().zip(["messages", "response_format"]) {
        assert_eq!(
            res.meta.error_kind,
            Some(ErrorKind::InvalidRequest),
            "{:?}",
            res.meta
        );
        let exception = res.meta.exception.as_deref().unwrap();
        assert!(exception.contains(param), "{exception}");
    }
    assert!(out[2].is_ok(), "{:?}", out[2].meta);
    // Only the valid items went upstream: `fine` once, the schema-first item twice (its
    // non-JSON answer retried with `json_object`, SPEC §6).
    assert_eq!(m.request_count(), 3);
    assert!(out[3].meta.fallback_used);
}
