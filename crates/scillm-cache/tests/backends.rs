//! The three backends for real: moka in memory, a throw-away `redis-server`, a `cacache`
//! directory; a failing backend logged once per outage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use scillm_cache::{CacheDirectives, CacheKey, CachePlan, CacheRules, ResponseCache};
use scillm_core::config::{CacheConfig, CacheMode, StateConfig};
use scillm_core::wire::{ChatRequest, ChatResponse};
use scillm_testkit::redis_server::{redis_binary, RedisServer};

fn request(text: &str) -> ChatRequest {
    serde_json::from_value(serde_json::json!({
        "model": "m", "messages": [{"role": "user", "content": text}], "temperature": 0
    }))
    .unwrap()
}

fn answer(text: &str) -> ChatResponse {
    serde_json::from_value(serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    }))
    .unwrap()
}

fn key_of(cache: &ResponseCache, r: &ChatRequest) -> CacheKey {
    match cache.plan(r, CacheDirectives::default()) {
        CachePlan::Use { key, .. } => key,
        CachePlan::Skip(reason) => panic!("skipped: {reason:?}"),
    }
}

async fn round_trip(a: &ResponseCache, b: &ResponseCache) {
    let r = request("hello");
    let key = key_of(a, &r);
    assert!(a.get(&key).await.is_none());
    a.put(&key, &answer("hi there")).await;
    let got = b.get(&key).await.expect("stored entry");
    assert_eq!(got, answer("hi there"));
    assert!(b.get(&key_of(b, &request("other"))).await.is_none());
}

#[tokio::test]
async fn local_entries_are_served_then_expire() {
    let cache = ResponseCache::local(CacheRules::default(), Duration::from_millis(200), 100);
    round_trip(&cache, &cache).await;
    let key = key_of(&cache, &request("hello"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.get(&key).await.is_some() {
        assert!(Instant::now() < deadline, "entry never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn disk_entries_survive_a_new_process_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let config = CacheConfig {
        mode: CacheMode::Disk,
        path: dir.path().join("cache"),
        ..Default::default()
    };
    let first = ResponseCache::from_config(&config, &StateConfig::default())
        .unwrap()
        .unwrap();
    // A second instance on the same directory stands for the rerun.
    let rerun = ResponseCache::from_config(&config, &StateConfig::default())
        .unwrap()
        .unwrap();
    assert_eq!(rerun.backend(), "disk");
    round_trip(&first, &rerun).await;

    let stale = ResponseCache::disk(CacheRules::default(), Duration::ZERO, &config.path);
    let key = key_of(&stale, &request("hello"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        stale.get(&key).await.is_none(),
        "an entry older than ttl_s is not served"
    );
    assert!(
        rerun.get(&key).await.is_none(),
        "the expired entry was removed"
    );
}

#[tokio::test]
async fn redis_entries_are_shared_prefixed_and_expire() {
    let Some(bin) = redis_binary().unwrap() else {
        return;
    };
    let mut redis = RedisServer::start(&bin).await.unwrap();
    let state = StateConfig {
        redis_url: Some(redis.url().into()),
    };
    let config = CacheConfig {
        mode: CacheMode::Redis,
        ttl_s: 60.0,
        ..Default::default()
    };
    let a = ResponseCache::from_config(&config, &state)
        .unwrap()
        .unwrap();
    let b = ResponseCache::from_config(&config, &state)
        .unwrap()
        .unwrap();
    round_trip(&a, &b).await;

    let keys = redis.keys_with_ttl().await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let (key, ttl) = &keys[0];
    assert!(key.starts_with("scillm:cache:v1:"), "{key}");
    assert!(*ttl > 55_000 && *ttl <= 60_000, "{ttl}");

    // Redis gone: a miss and a stored answer lost, quickly, never an error.
    redis.kill().await;
    let key = key_of(&a, &request("hello"));
    let t = Instant::now();
    assert!(a.get(&key).await.is_none());
    a.put(&key, &answer("x")).await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn redis_mode_without_a_url_says_what_to_set() {
    let config = CacheConfig {
        mode: CacheMode::Redis,
        ..Default::default()
    };
    let err = ResponseCache::from_config(&config, &StateConfig::default()).unwrap_err();
    assert!(err.to_string().contains("SCILLM_REDIS_URL"), "{err}");
    let off = CacheConfig::default();
    assert!(ResponseCache::from_config(&off, &StateConfig::default())
        .unwrap()
        .is_none());
}

/// Log lines written into a shared buffer.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_backend_is_logged_once_per_outage_not_once_per_request() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    // The cache directory's path is taken by a file: every read and write fails.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache");
    std::fs::write(&path, "in the way").unwrap();
    let cache = ResponseCache::disk(CacheRules::default(), Duration::from_secs(60), &path);
    let key = key_of(&cache, &request("hello"));
    for _ in 0..20 {
        assert!(cache.get(&key).await.is_none(), "a failure is a miss");
        cache.put(&key, &answer("hi")).await;
    }
    // Out of the way: the next write works, and the outage's end is logged.
    std::fs::remove_file(&path).unwrap();
    cache.put(&key, &answer("hi")).await;
    assert_eq!(cache.get(&key).await, Some(answer("hi")));
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // One warning as each operation's outage starts (reads and writes can fail apart, e.g.
    // a full disk), one line as each ends: not one per request.
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "one warning per operation:\n{log}");
    assert!(
        warnings.iter().all(|w| w.contains("the backend fails")),
        "{log}"
    );
    assert!(warnings[0].contains("operation=\"get\""), "{log}");
    assert!(warnings[1].contains("operation=\"put\""), "{log}");
    assert_eq!(log.matches("the backend answers again").count(), 2, "{log}");
}
