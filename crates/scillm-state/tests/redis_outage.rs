//! Redis killed mid-run: calls keep answering from per-process state, one warning is
//! logged, the error metric counts it; Redis back → state is shared again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use scillm_state::{
    Admission, RateLimit, RedisState, RedisStateOptions, SharedState, STATE_BACKEND_ERRORS_TOTAL,
};
use scillm_testkit::redis_server::{redis_binary, RedisServer};

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn errors_counted(snap: &Snapshotter) -> u64 {
    snap.snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, _, _, _)| key.key().name() == STATE_BACKEND_ERRORS_TOTAL)
        .map(|(_, _, _, v)| match v {
            DebugValue::Counter(n) => n,
            _ => 0,
        })
        .sum()
}

const RPM_600: RateLimit = RateLimit {
    rpm: Some(600),
    tpm: None,
};

async fn admitted(s: &RedisState, n: usize) -> usize {
    let mut granted = 0;
    for _ in 0..n {
        if s.try_acquire("east", RPM_600, 0).await == Admission::Granted {
            granted += 1;
        }
    }
    granted
}

#[tokio::test]
async fn redis_killed_mid_run_falls_back_then_sharing_resumes() {
    let Some(bin) = redis_binary().unwrap() else {
        return;
    };
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let mut redis = RedisServer::start(&bin).await.unwrap();
    let options = RedisStateOptions {
        timeout: Duration::from_millis(200),
        retry_after: Duration::from_millis(200),
    };
    let a = RedisState::with_options(&redis.url(), options).unwrap();
    let b = RedisState::with_options(&redis.url(), options).unwrap();
    assert!(admitted(&a, 5).await == 5 && a.is_shared());

    redis.kill().await;
    // Every call still answers, within the timeout, from per-process limits: a's local
    // burst of 10 and b's own 10.
    let t = Instant::now();
    let during_a = admitted(&a, 30).await;
    let during_b = admitted(&b, 30).await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!((10..=13).contains(&during_a), "a admitted {during_a}");
    assert!((10..=13).contains(&during_b), "b admitted {during_b}");
    assert!(!a.is_shared() && !b.is_shared());
    let cooled = a.cooldowns(&["east"]).await;
    assert_eq!(cooled, vec![None]);
    assert!(errors_counted(&snap) >= 2, "each process counts the outage");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let warnings = text.matches("Redis unreachable").count();
    // One warning per process per outage, not one per call.
    assert_eq!(warnings, 2, "{text}");

    redis.restart().await.unwrap();
    // After the back-off the next call reaches Redis again (the connection manager
    // reconnects); poll until it does.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(a.is_shared() && b.is_shared()) {
        assert!(Instant::now() < deadline, "never reconnected");
        a.try_acquire("poll", RPM_600, 0).await;
        b.try_acquire("poll", RPM_600, 0).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("Redis answers again"), "{text}");
    // Shared again: a takes the whole burst, so b gets (almost) nothing.
    let start = Instant::now();
    let after_a = admitted(&a, 10).await;
    let after_b = admitted(&b, 10).await;
    let replenished = (start.elapsed().as_secs_f64() * 10.0).ceil() as usize;
    assert_eq!(after_a, 10);
    assert!(
        after_b <= replenished,
        "b admitted {after_b} of a shared burst"
    );
}
