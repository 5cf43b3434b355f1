//! Several `scillm serve` processes (the real binary) sharing one real `redis-server`
//! (SPEC §18): one rpm allowance between them, cooldowns seen by every process, and a
//! Redis outage that falls back to per-process limits without failing requests, then
//! shares again once Redis is back. The Redis binary comes from `SCILLM_TEST_REDIS`.
//!
//! Limits are chosen so the assertions hold with seconds of margin on a loaded machine:
//! `rpm = 60` admits one request per second (burst 1), `rpm = 6` one per ten seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scillm_testkit::chat_mock::{ChatMock, MockReply};
use scillm_testkit::redis_server::{free_port, redis_binary, RedisServer};
use serde_json::json;

/// A running `scillm serve`, everything it wrote to stderr, and its own data_dir (one
/// gateway per directory).
struct Serve {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
    _data_dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// The Redis binary, or `None` when the test is skipped (never under
/// `SCILLM_REQUIRE_EXTERNAL=1`, where a missing binary fails).
fn redis() -> Option<PathBuf> {
    redis_binary().unwrap()
}

/// Write `body` as the config file `name` in `dir`.
fn config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// A `model_list` entry for `name` at `mock`, with extra TOML lines.
fn deployment(name: &str, mock: &ChatMock, extra: &str) -> String {
    format!(
        "[[model_list]]\nmodel_name = \"{name}\"\nprovider = \"openai\"\nmodel = \"upstream\"\napi_base = \"{}\"\napi_key = \"sk-upstream\"\n{extra}\n",
        mock.base_url()
    )
}

/// Start `scillm serve` with `config`, sharing state through `redis_url` when given, and
/// poll `/healthz` until it answers.
async fn serve(config: &Path, redis_url: Option<&str>, http: &reqwest::Client) -> Serve {
    let port = free_port().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scillm"));
    cmd.args(["serve", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env("SCILLM_CONFIG", config)
        .env("SCILLM_LOG", "warn")
        .env_remove("SCILLM_REDIS_URL")
        .env_remove("LITELLM_REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = redis_url {
        cmd.env("SCILLM_REDIS_URL", url);
    }
    let mut child = cmd.spawn().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    let server = Serve {
        child,
        port,
        log,
        _data_dir: data_dir,
    };
    let started = Instant::now();
    loop {
        let up = http
            .get(server.url("/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return server;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "scillm serve never answered /healthz; stderr:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One chat request with a `timeout` of `timeout_s` (the deadline of rate-limit
/// admission): the status and the deployment header.
async fn chat(http: &reqwest::Client, s: &Serve, model: &str, timeout_s: f64) -> (u16, String) {
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "timeout": timeout_s,
    });
    let r = http
        .post(s.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let deployment = r
        .headers()
        .get("x-scillm-deployment")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.unwrap();
    // 504: admitted so close to the deadline that no time was left for the call.
    assert!(
        matches!(status, 200 | 429 | 504),
        "unexpected answer {status}: {text}"
    );
    (status, deployment)
}

/// The sum of every sample of counter `name` on `s`'s `/metrics`.
async fn counter(http: &reqwest::Client, s: &Serve, name: &str) -> f64 {
    let text = http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Poll until `what` holds (at most 30 s).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < Duration::from_secs(30), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 20 concurrent requests to each of `a` and `b` with a `deadline_s` timeout: how many
/// reached the mock, and how long the whole run took.
async fn burst(
    http: &reqwest::Client,
    a: &Serve,
    b: &Serve,
    mock: &ChatMock,
    deadline_s: f64,
) -> (usize, Duration) {
    let before = mock.request_count();
    let started = Instant::now();
    let calls = (0..40).map(|i| {
        let target = if i % 2 == 0 { a } else { b };
        chat(http, target, "limited", deadline_s)
    });
    let answers = futures::future::join_all(calls).await;
    let took = started.elapsed();
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let sent = mock.request_count() - before;
    assert!(
        ok <= sent && ok > 0,
        "{ok} answered 200, {sent} reached the mock"
    );
    (sent, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_share_one_rpm_allowance_through_redis() {
    let Some(bin) = redis() else { return };
    let redis = RedisServer::start(&bin).await.unwrap();
    let mock = ChatMock::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dep = deployment("limited", &mock, "rpm = 60");
    let shared = config(
        dir.path(),
        "shared.toml",
        &format!("[state]\nredis_url = \"{}\"\n\n{dep}", redis.url()),
    );
    let separate = config(dir.path(), "separate.toml", &dep);
    let http = reqwest::Client::new();
    // Admission waits for capacity until the request's deadline: with rpm = 60 (one per
    // second, burst 1) a process admits about one request per second of the deadline.
    let deadline_s = 8.0;

    let (a, b) = (
        serve(&shared, None, &http).await,
        serve(&shared, None, &http).await,
    );
    let (shared_sent, took) = burst(&http, &a, &b, &mock, deadline_s).await;
    drop((a, b));
    eprintln!("shared: {shared_sent} of 40 reached the mock in {took:?}");
    // One allowance: the burst plus one per second of the run, whatever the split.
    let allowed = 2 + took.as_secs() as usize;
    assert!(
        shared_sent <= allowed,
        "two gateways on one Redis let {shared_sent} through in {took:?}; rpm = 60 allows {allowed}"
    );

    let (a, b) = (
        serve(&separate, None, &http).await,
        serve(&separate, None, &http).await,
    );
    let (separate_sent, took_separate) = burst(&http, &a, &b, &mock, deadline_s).await;
    eprintln!("separate: {separate_sent} of 40 reached the mock in {took_separate:?}");
    // Each process has its own allowance: at least deadline − 1 requests each.
    let each = deadline_s as usize - 1;
    assert!(
        separate_sent >= 2 * each,
        "without Redis each gateway has its own rpm = 60: expected ≥ {} through in {took_separate:?}, saw {separate_sent}",
        2 * each
    );
    assert!(
        separate_sent >= shared_sent + 4,
        "sharing must make a difference: {shared_sent} shared vs {separate_sent} separate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cooldown_started_through_one_gateway_is_skipped_by_the_other() {
    let Some(bin) = redis() else { return };
    let redis = RedisServer::start(&bin).await.unwrap();
    let limited = ChatMock::builder()
        .respond_with(|_| MockReply::status(429).with_retry_after("600"))
        .start()
        .await
        .unwrap();
    let healthy = ChatMock::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `order` makes every process try the limited deployment first while it is healthy.
    let body = format!(
        "[router]\nmax_retry_after_s = 600\n\n{}{}",
        deployment("pair", &limited, "order = 1"),
        deployment("pair", &healthy, "order = 2"),
    );
    let cfg = config(dir.path(), "pair.toml", &body);
    let http = reqwest::Client::new();
    let a = serve(&cfg, Some(&redis.url()), &http).await;
    let b = serve(&cfg, Some(&redis.url()), &http).await;

    let (status, deployment) = chat(&http, &a, "pair", 30.0).await;
    assert_eq!(
        (status, deployment.as_str(), limited.request_count()),
        (200, "pair#1", 1),
        "the 429 cools pair#0 down and the request fails over"
    );
    let started = Instant::now();
    let ttl = loop {
        let keys = redis.keys_with_ttl().await.unwrap();
        if let Some((_, ttl)) = keys.iter().find(|(k, _)| k == "scillm:cooldown:pair#0") {
            break *ttl;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the cooldown never reached Redis: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        ttl > 500_000,
        "the cooldown lasts the upstream's Retry-After (600 s): {ttl} ms left"
    );

    for _ in 0..5 {
        let (status, deployment) = chat(&http, &b, "pair", 30.0).await;
        assert_eq!((status, deployment.as_str()), (200, "pair#1"));
    }
    assert_eq!(
        limited.request_count(),
        1,
        "the other gateway skipped the deployment cooled down through the first"
    );

    // Control: a gateway without the shared state does not know about the cooldown.
    let alone = serve(&cfg, None, &http).await;
    let (status, _) = chat(&http, &alone, "pair", 30.0).await;
    assert_eq!((status, limited.request_count()), (200, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_mid_run_falls_back_to_local_limits_then_sharing_resumes() {
    let Some(bin) = redis() else { return };
    let mut redis = RedisServer::start(&bin).await.unwrap();
    let mock = ChatMock::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // rpm = 6: one request per ten seconds, so a refused request stays refused for the
    // whole test and a 3 s deadline never reaches the next slot.
    let body = format!(
        "{}{}",
        deployment("m", &mock, "rpm = 6"),
        deployment("n", &mock, "rpm = 6")
    );
    let cfg = config(dir.path(), "outage.toml", &body);
    let http = reqwest::Client::new();
    let a = serve(&cfg, Some(&redis.url()), &http).await;
    let b = serve(&cfg, Some(&redis.url()), &http).await;

    // Shared: a's request takes the one slot; b's waits for it past its deadline.
    assert_eq!(chat(&http, &a, "m", 3.0).await.0, 200);
    assert_eq!(
        chat(&http, &b, "m", 3.0).await.0,
        429,
        "one allowance for both"
    );

    redis.kill().await;
    // Requests keep succeeding, under each process's own limits.
    assert_eq!(chat(&http, &a, "m", 3.0).await.0, 200, "a falls back");
    assert_eq!(chat(&http, &b, "n", 3.0).await.0, 200, "b falls back");
    assert_eq!(
        chat(&http, &a, "m", 3.0).await.0,
        429,
        "the local limit still holds while Redis is down"
    );
    for s in [&a, &b] {
        until("a warning about Redis", || {
            s.log().contains("Redis unreachable")
        })
        .await;
        assert!(counter(&http, s, "scillm_state_backend_errors_total").await >= 1.0);
        assert!(counter(&http, s, "scillm_state_fallback_total").await >= 1.0);
    }

    redis.restart().await.unwrap();
    for s in [&a, &b] {
        until("the shared state reconnects", || {
            s.log().contains("Redis answers again")
        })
        .await;
    }
    // Shared again: b never used its own allowance for `m` (Redis refused it above), so
    // only a shared allowance refuses it now.
    assert_eq!(chat(&http, &a, "m", 3.0).await.0, 200);
    let keys = redis.keys_with_ttl().await.unwrap();
    assert!(
        keys.iter().any(|(k, t)| k == "scillm:rl:rpm:m#0" && *t > 0),
        "a's admission was charged in Redis again: {keys:?}"
    );
    assert_eq!(
        chat(&http, &b, "m", 3.0).await.0,
        429,
        "b shares a's allowance again"
    );
}
