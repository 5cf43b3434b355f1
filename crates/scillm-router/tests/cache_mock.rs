//! The response cache inside the router (SPEC §18) against a mock upstream that counts its
//! calls: local, disk (a rerun) and a real `redis-server` shared by two routers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{meta, router};
use scillm_testkit::chat_mock::ChatMock;
use scillm_testkit::redis_server::{redis_binary, RedisServer};
use serde_json::{json, Value};

async fn upstream() -> ChatMock {
    ChatMock::builder()
        .content("cached answer")
        .record(true)
        .start()
        .await
        .unwrap()
}

fn deployment(m: &ChatMock) -> Value {
    json!([{"model_name": "m", "provider": "openai", "api_base": m.base_url()}])
}

fn ask(text: &str, extra: Value) -> Value {
    let mut v = json!({"model": "m", "messages": [{"role": "user", "content": text}]});
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

#[tokio::test]
async fn the_second_identical_request_is_a_hit() {
    let up = upstream().await;
    let r = router(deployment(&up), &[("cache.mode", json!("local"))]);
    let first = r.completion(ask("hello", json!({"temperature": 0}))).await;
    assert!(first.is_ok(), "{:?}", first.meta);
    assert_eq!(meta(&first)["cache_hit"], false);
    let second = r
        .completion(ask("hello", json!({"temperature": 0.0})))
        .await;
    assert_eq!(meta(&second)["cache_hit"], true);
    assert_eq!(second.content(), "cached answer");
    assert_eq!(meta(&second)["error_type"], "ok");
    assert_eq!(up.request_count(), 1, "the mock must see one call");
    // A different prompt is a miss.
    let other = r.completion(ask("bye", json!({}))).await;
    assert_eq!(meta(&other)["cache_hit"], false);
    assert_eq!(up.request_count(), 2);
}

#[tokio::test]
async fn temperature_above_zero_is_not_cached_by_default() {
    let up = upstream().await;
    let r = router(deployment(&up), &[("cache.mode", json!("local"))]);
    for _ in 0..2 {
        let res = r
            .completion(ask("hello", json!({"temperature": 0.7})))
            .await;
        assert_eq!(meta(&res)["cache_hit"], false);
    }
    assert_eq!(up.request_count(), 2);

    let allowing = router(
        deployment(&up),
        &[
            ("cache.mode", json!("local")),
            ("cache.cache_nondeterministic", json!(true)),
        ],
    );
    for _ in 0..2 {
        allowing
            .completion(ask("hello", json!({"temperature": 0.7})))
            .await;
    }
    assert_eq!(
        up.request_count(),
        3,
        "cache_nondeterministic = true caches it"
    );
}

#[tokio::test]
async fn no_cache_bypasses_and_the_directive_is_not_sent_upstream() {
    let up = upstream().await;
    let r = router(deployment(&up), &[("cache.mode", json!("local"))]);
    r.completion(ask("hello", json!({}))).await;
    let bypass = r
        .completion(ask("hello", json!({"cache": {"no-cache": true}})))
        .await;
    assert!(bypass.is_ok());
    assert_eq!(meta(&bypass)["cache_hit"], false);
    assert_eq!(up.request_count(), 2, "no-cache must reach the upstream");
    for req in up.requests() {
        assert!(req.body.get("cache").is_none(), "{}", req.body);
    }
    let hit = r.completion(ask("hello", json!({}))).await;
    assert_eq!(meta(&hit)["cache_hit"], true);
    assert_eq!(up.request_count(), 2);
}

#[tokio::test]
async fn without_a_cache_there_is_no_cache_hit_field_and_no_directive_upstream() {
    let up = upstream().await;
    let r = router(deployment(&up), &[]);
    let res = r
        .completion(ask("hello", json!({"cache": {"no-cache": true}})))
        .await;
    assert!(res.is_ok());
    assert!(meta(&res).get("cache_hit").is_none());
    assert!(up.requests()[0].body.get("cache").is_none());
}

#[tokio::test]
async fn a_rerun_with_the_disk_cache_makes_no_upstream_call() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        ("cache.mode", json!("disk")),
        ("cache.path", json!(dir.path().join("c"))),
    ];
    let items: Vec<Value> = (0..5)
        .map(|i| ask(&format!("line {i}"), json!({})))
        .collect();
    let first = router(deployment(&up), &settings)
        .parallel(items.clone(), Default::default())
        .await;
    assert!(first.iter().all(|r| r.is_ok()));
    assert_eq!(up.request_count(), 5);
    // A new router (a new process) over the same directory: every line is a hit.
    let rerun = router(deployment(&up), &settings)
        .parallel(items, Default::default())
        .await;
    assert!(rerun.iter().all(|r| meta(r)["cache_hit"] == true));
    assert_eq!(up.request_count(), 5, "the rerun made upstream calls");
}

#[tokio::test]
async fn a_redis_cache_is_shared_by_two_routers() {
    let Some(bin) = redis_binary().unwrap() else {
        return;
    };
    let redis = RedisServer::start(&bin).await.unwrap();
    let up = upstream().await;
    let settings = [
        ("cache.mode", json!("redis")),
        ("state.redis_url", json!(redis.url())),
    ];
    let a = router(deployment(&up), &settings);
    let b = router(deployment(&up), &settings);
    assert_eq!(
        meta(&a.completion(ask("hello", json!({}))).await)["cache_hit"],
        false
    );
    assert_eq!(
        meta(&b.completion(ask("hello", json!({}))).await)["cache_hit"],
        true
    );
    assert_eq!(up.request_count(), 1);
}

#[test]
fn a_redis_cache_without_a_url_is_refused_when_the_router_is_built() {
    let err =
        scillm_router::Router::new(common::config(&[("cache.mode", json!("redis"))])).unwrap_err();
    assert!(err.to_string().contains("SCILLM_REDIS_URL"), "{err}");
}

/// The text of a stream, and whether it ended without an error.
async fn drain(r: &scillm_router::Router, request: Value) -> String {
    use futures::StreamExt;
    let req: scillm_core::wire::ChatRequest = serde_json::from_value(request).unwrap();
    let mut stream = r.chat_stream(req).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for c in &chunk.choices {
            text.push_str(c.delta.text_str());
        }
    }
    text
}

#[tokio::test]
async fn streams_use_the_cache_only_with_cache_stream() {
    let up = upstream().await;
    let streamed = ask("hello", json!({"stream": true}));
    let plain = router(deployment(&up), &[("cache.mode", json!("local"))]);
    assert_eq!(drain(&plain, streamed.clone()).await, "cached answer");
    assert_eq!(drain(&plain, streamed.clone()).await, "cached answer");
    assert_eq!(up.request_count(), 2, "streams are not cached by default");

    let caching = router(
        deployment(&up),
        &[
            ("cache.mode", json!("local")),
            ("cache.cache_stream", json!(true)),
        ],
    );
    assert_eq!(drain(&caching, streamed.clone()).await, "cached answer");
    assert_eq!(up.request_count(), 3);
    // Replayed from the entry the first stream stored, and served to a plain call too.
    assert_eq!(drain(&caching, streamed).await, "cached answer");
    let res = caching.completion(ask("hello", json!({}))).await;
    assert_eq!(meta(&res)["cache_hit"], true);
    assert_eq!(res.content(), "cached answer");
    assert_eq!(up.request_count(), 3);
}
