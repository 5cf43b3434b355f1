//! `RedisState` against a real `redis-server` (one per test, no persistence): two state
//! instances stand for two processes sharing one Redis, over plain TCP or TLS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use scillm_state::{Admission, LocalState, RateLimit, RedisState, SharedState, KEY_PREFIX};
use scillm_testkit::redis_server::{redis_binary, RedisServer};

async fn server() -> Option<RedisServer> {
    let bin = redis_binary().unwrap()?;
    Some(RedisServer::start(&bin).await.unwrap())
}

const RPM_600: RateLimit = RateLimit {
    rpm: Some(600),
    tpm: None,
};

/// Ask `n` times at once from each state, alternating; how many were admitted.
async fn burst(states: &[&dyn SharedState], n: usize, limit: RateLimit) -> usize {
    let mut granted = 0;
    for _ in 0..n {
        for s in states {
            if s.try_acquire("east", limit, 0).await == Admission::Granted {
                granted += 1;
            }
        }
    }
    granted
}

/// Two states on the Redis at `url` ask 20 times each at 600 rpm: together they get one
/// burst of 10 (plus what was replenished meanwhile), not one each. Returns the count.
async fn shared_burst(url: &str) -> usize {
    let a = RedisState::new(url).unwrap();
    let b = RedisState::new(url).unwrap();
    let start = Instant::now();
    let shared = burst(&[&a, &b], 20, RPM_600).await;
    let replenished = (start.elapsed().as_secs_f64() * 10.0).ceil() as usize;
    assert!(
        (10..=10 + replenished).contains(&shared),
        "shared: {shared} admitted (replenished {replenished})"
    );
    assert!(a.is_shared() && b.is_shared());
    shared
}

#[tokio::test]
async fn two_processes_share_one_allowance_where_local_state_doubles_it() {
    let Some(redis) = server().await else { return };
    let shared = shared_burst(&redis.url()).await;

    let (la, lb) = (LocalState::new(), LocalState::new());
    let local = burst(&[&la, &lb], 20, RPM_600).await;
    assert!(
        local >= 20,
        "per-process state admits each its own burst: {local}"
    );
    assert!(
        local >= shared + 8,
        "sharing must cut the burst: {shared} shared vs {local} per process"
    );
}

#[tokio::test]
async fn two_processes_share_one_allowance_over_tls() {
    // `rediss://`, as managed Redis services require: a TLS-only server.
    let Some(bin) = redis_binary().unwrap() else {
        return;
    };
    let redis = RedisServer::start_tls(&bin).await.unwrap();
    assert!(redis.url().starts_with("rediss://"));
    // Unreachable Redis would fall back to per-process limits (about 20 admitted).
    shared_burst(&redis.url()).await;
    let keys = redis.keys_with_ttl().await.unwrap();
    assert!(
        keys.iter().any(|(k, _)| k.starts_with(KEY_PREFIX)),
        "the allowance lives in the TLS Redis: {keys:?}"
    );
}

#[tokio::test]
async fn a_refused_request_is_told_how_long_to_wait() {
    let Some(redis) = server().await else { return };
    let a = RedisState::new(&redis.url()).unwrap();
    let limit = RateLimit {
        rpm: Some(60),
        tpm: None,
    };
    assert_eq!(a.try_acquire("east", limit, 0).await, Admission::Granted);
    match a.try_acquire("east", limit, 0).await {
        Admission::Wait(d) => assert!(
            d > Duration::from_millis(900) && d <= Duration::from_secs(1),
            "{d:?}"
        ),
        Admission::Granted => panic!("60 rpm admits one per second"),
    }
    // Other deployments have their own allowance.
    assert_eq!(a.try_acquire("west", limit, 0).await, Admission::Granted);
}

#[tokio::test]
async fn token_allowance_is_shared_and_corrected_with_real_usage() {
    let Some(redis) = server().await else { return };
    let a = RedisState::new(&redis.url()).unwrap();
    let b = RedisState::new(&redis.url()).unwrap();
    // 6000 tpm = 100 tokens per second.
    let limit = RateLimit {
        rpm: None,
        tpm: Some(6000),
    };
    assert_eq!(a.try_acquire("east", limit, 100).await, Admission::Granted);
    assert!(matches!(
        b.try_acquire("east", limit, 50).await,
        Admission::Wait(_)
    ));
    // The answer used 10 tokens, not the estimated 100: 90 come back, for every process.
    a.correct_tokens("east", limit, -90).await;
    assert_eq!(b.try_acquire("east", limit, 50).await, Admission::Granted);
    // A request above one second's allowance waits for a full allowance, then goes.
    let c = RateLimit {
        rpm: None,
        tpm: Some(600),
    };
    assert_eq!(a.try_acquire("big", c, 5000).await, Admission::Granted);
    assert!(matches!(
        b.try_acquire("big", c, 1).await,
        Admission::Wait(_)
    ));
}

#[tokio::test]
async fn both_limits_are_charged_together_or_not_at_all() {
    let Some(redis) = server().await else { return };
    let a = RedisState::new(&redis.url()).unwrap();
    let limit = RateLimit {
        rpm: Some(600),
        tpm: Some(600),
    };
    // 10 tokens per second: this takes the whole token allowance.
    assert_eq!(a.try_acquire("east", limit, 10).await, Admission::Granted);
    // Refused on tokens: the request slot must not be taken either.
    for _ in 0..20 {
        assert!(matches!(
            a.try_acquire("east", limit, 10).await,
            Admission::Wait(_)
        ));
    }
    let only_rpm = RateLimit {
        rpm: Some(600),
        tpm: None,
    };
    let granted = burst(&[&a], 9, only_rpm).await;
    assert!(
        granted >= 9,
        "request slots were charged by refused calls: {granted}"
    );
}

#[tokio::test]
async fn a_cooldown_through_one_process_is_seen_by_the_other() {
    let Some(redis) = server().await else { return };
    let a = RedisState::new(&redis.url()).unwrap();
    let b = RedisState::new(&redis.url()).unwrap();
    a.start_cooldown("east", Duration::from_secs(30)).await;
    // A shorter cooldown does not cut a longer one short.
    b.start_cooldown("east", Duration::from_millis(10)).await;
    let seen = b.cooldowns(&["east", "west"]).await;
    assert!(
        seen[0].is_some_and(|d| d > Duration::from_secs(29)),
        "{seen:?}"
    );
    assert_eq!(seen[1], None);
}

#[tokio::test]
async fn rotation_interleaves_across_processes() {
    let Some(redis) = server().await else { return };
    let a = RedisState::new(&redis.url()).unwrap();
    let b = RedisState::new(&redis.url()).unwrap();
    let got = vec![
        a.next_rotation("gpt").await,
        b.next_rotation("gpt").await,
        a.next_rotation("gpt").await,
        b.next_rotation("other").await,
    ];
    assert_eq!(got, vec![0, 1, 2, 0]);
}

#[tokio::test]
async fn every_key_is_prefixed_and_expires() {
    let Some(redis) = server().await else { return };
    let a = RedisState::new(&redis.url()).unwrap();
    let both = RateLimit {
        rpm: Some(60),
        tpm: Some(6000),
    };
    a.try_acquire("east", both, 10).await;
    a.correct_tokens("east", both, 5).await;
    a.start_cooldown("east", Duration::from_secs(5)).await;
    a.next_rotation("gpt").await;
    let keys = redis.keys_with_ttl().await.unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for (key, ttl) in keys {
        assert!(key.starts_with(KEY_PREFIX), "{key}");
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
}

#[tokio::test]
async fn an_unparsable_url_is_refused_without_echoing_it() {
    let err = RedisState::new("http://user:hunter2@127.0.0.1:1").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("redis_url"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn the_config_chooses_shared_or_per_process_state() {
    let Some(redis) = server().await else { return };
    let shared = scillm_core::config::StateConfig {
        redis_url: Some(redis.url().into()),
    };
    let (a, b) = (
        scillm_state::from_config(&shared).unwrap(),
        scillm_state::from_config(&shared).unwrap(),
    );
    assert_eq!(a.next_rotation("m").await, 0);
    assert_eq!(b.next_rotation("m").await, 1);
    let local = scillm_core::config::StateConfig::default();
    let (c, d) = (
        scillm_state::from_config(&local).unwrap(),
        scillm_state::from_config(&local).unwrap(),
    );
    assert_eq!(c.next_rotation("m").await, 0);
    assert_eq!(d.next_rotation("m").await, 0);
}

#[tokio::test]
async fn a_group_is_admitted_as_that_many_requests_in_a_row_or_not_at_all() {
    use scillm_state::{Gate, RedisStateOptions, RedisStore};
    let Some(redis) = server().await else { return };
    let store = RedisStore::new(&redis.url(), RedisStateOptions::default()).unwrap();
    // rpm = 6: burst 1, then one per ten seconds — no timing in this test comes close.
    let rpm_6 = RateLimit {
        rpm: Some(6),
        tpm: None,
    };
    let gate = |g: Option<Gate>| g.unwrap();
    let group = store.acquire_many_unless_cooling("g", rpm_6, 2, 0).await;
    assert!(
        matches!(gate(group), Gate::Wait(_)),
        "two at once exceed a burst of one"
    );
    let one = store.acquire_many_unless_cooling("g", rpm_6, 1, 0).await;
    assert_eq!(gate(one), Gate::Open, "the refused group charged nothing");
    let again = store.acquire_unless_cooling("g", rpm_6, 0).await;
    assert!(matches!(gate(again), Gate::Wait(_)));

    // tpm = 600: ten tokens a second. One request larger than that is admitted on a full
    // allowance; a group of requests summing to as much is not (each would wait in turn).
    let tpm_600 = RateLimit {
        rpm: None,
        tpm: Some(600),
    };
    let group = store
        .acquire_many_unless_cooling("t1", tpm_600, 2, 12)
        .await;
    assert!(matches!(gate(group), Gate::Wait(_)));
    let single = store
        .acquire_many_unless_cooling("t2", tpm_600, 1, 12)
        .await;
    assert_eq!(gate(single), Gate::Open);

    // A cooling deployment is refused for the whole group, nothing charged.
    store
        .start_cooldown("c", Duration::from_secs(60))
        .await
        .unwrap();
    let cooling = store.acquire_many_unless_cooling("c", rpm_6, 3, 0).await;
    assert!(matches!(gate(cooling), Gate::Cooling(left) if left > Duration::from_secs(50)));
    assert!(!redis
        .keys_with_ttl()
        .await
        .unwrap()
        .iter()
        .any(|(k, _)| k == "scillm:rl:rpm:c"));
}
