//! `Router::new` with `[state] redis_url` (SPEC §18): routers built by the library share
//! rate-limit use and cooldowns through a real `redis-server` (from `SCILLM_TEST_REDIS`),
//! and a Redis URL that does not parse is refused without repeating it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, item, router};
use scillm_core::ErrorKind;
use scillm_router::Router;
use scillm_testkit::chat_mock::ChatMock;
use scillm_testkit::redis_server::{redis_binary, RedisServer};
use serde_json::{json, Value};

fn limited(mock: &ChatMock, rpm: u32) -> Value {
    json!([{"model_name": "m", "provider": "openai", "model": "upstream",
        "api_base": mock.base_url(), "api_key": "sk-test", "rpm": rpm}])
}

#[tokio::test]
async fn a_redis_url_that_does_not_parse_is_refused_without_echoing_it() {
    let cfg = config(&[
        ("model_list", json!([])),
        ("state.redis_url", json!("nonsense://user:hunter2@host")),
    ]);
    let err = Router::new(cfg).unwrap_err().to_string();
    assert!(err.contains("redis_url"), "{err}");
    assert!(!err.contains("hunter2"), "the URL's password leaked: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_built_with_a_redis_url_share_one_allowance() {
    let Some(bin) = redis_binary().unwrap() else {
        return;
    };
    let redis = RedisServer::start(&bin).await.unwrap();
    let mock = ChatMock::builder().start().await.unwrap();
    // rpm = 6: one request per ten seconds; a 2 s deadline never reaches the next slot.
    let url = json!(redis.url());
    let a = router(limited(&mock, 6), &[("state.redis_url", url.clone())]);
    let b = router(limited(&mock, 6), &[("state.redis_url", url)]);
    let mut req = item("m", "hi");
    req["timeout"] = json!(2);

    assert!(a.completion(req.clone()).await.error.is_none());
    let refused = b.completion(req.clone()).await;
    assert_eq!(
        refused.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::RateLimited),
        "b shares a's allowance"
    );
    assert_eq!(mock.request_count(), 1);
    let keys = redis.keys_with_ttl().await.unwrap();
    assert!(
        keys.iter()
            .any(|(k, ttl)| k == "scillm:rl:rpm:m#0" && *ttl > 0),
        "{keys:?}"
    );

    // Control: a router without the URL has its own allowance.
    let alone = router(limited(&mock, 6), &[]);
    assert!(alone.completion(req).await.error.is_none());
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_usage_below_the_estimate_credits_the_shared_tpm_allowance() {
    let Some(bin) = redis_binary().unwrap() else {
        return;
    };
    let redis = RedisServer::start(&bin).await.unwrap();
    // The mock reports 2 tokens used; each request is estimated at 100 (400 characters).
    // tpm 24000 = 400 tokens a second: 20 requests on the estimate alone need about 4 s.
    // With the corrections sent to Redis (coalesced per deployment), far less.
    let mock = ChatMock::builder().content("ok").start().await.unwrap();
    let list = json!([{"model_name": "m", "provider": "openai", "api_base": mock.base_url(),
        "api_key": "sk-test", "tpm": 24000}]);
    let r = router(list, &[("state.redis_url", json!(redis.url()))]);
    let text = "x".repeat(400);
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let res = r.completion(item("m", &text)).await;
        assert!(res.error.is_none(), "{:?}", res.error);
    }
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    let keys = redis.keys_with_ttl().await.unwrap();
    assert!(
        keys.iter().any(|(k, _)| k == "scillm:rl:tpm:m#0"),
        "{keys:?}"
    );
}
