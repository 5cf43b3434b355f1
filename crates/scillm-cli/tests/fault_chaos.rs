//! Faults under load: 10,000 requests through `Router::parallel` against the chaos upstream
//! give exactly 10,000 classified results in input order, with `Retry-After` honoured; and
//! the same through `scillm batch` with a kill and `--resume`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use scillm_core::config::ConfigLoader;
use scillm_router::{ParallelOptions, RequestItem, Router};
use scillm_testkit::chaos::{ChaosConfig, ChaosServer, Fault};
use serde_json::{json, Value};

// Link the providers.
use scillm_provider_codex as _;

const KNOWN_KINDS: &[&str] = &[
    "auth",
    "not_found",
    "rate_limited",
    "bad_request",
    "server",
    "timeout",
    "connect",
    "invalid_response",
    "invalid_request",
    "unsupported",
    "cancelled",
    "internal",
    "overloaded",
];

fn item(i: usize, base: &str) -> Value {
    json!({
        "model": "chaos-model",
        "custom_llm_provider": "openai",
        "api_base": base,
        "messages": [{"role": "user", "content": format!("item {i}")}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_against_chaos_keep_every_slot() {
    const N: usize = 10_000;
    let chaos = ChaosServer::start(ChaosConfig {
        slow: Duration::from_millis(1500),
        ..ChaosConfig::default()
    })
    .await
    .unwrap();
    let config = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set("codex_agent.timeout_s", 0.5)
        .set("codex_agent.retry_base_ms", 5)
        .set("codex_agent.max_backoff_ms", 20)
        .set("codex_agent.deterministic_seed", 1)
        .set("router.retry_meta", true)
        .load()
        .unwrap();
    let router = Router::new(Arc::new(config)).unwrap();
    let mut items: Vec<RequestItem> = (0..N)
        .map(|i| RequestItem::Raw(item(i, &chaos.base())))
        .collect();
    // A few invalid items mixed in keep their slots too.
    items[17] = RequestItem::from_json_line("{broken");
    items[4242] = RequestItem::Raw(json!({"model": "x"}));
    let results = router
        .parallel(items, ParallelOptions::new().concurrency(256))
        .await;

    assert_eq!(results.len(), N);
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut waited_after_429 = 0;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.meta.index, i, "slot {i} holds another item's result");
        let et = r.meta.error_type.as_str();
        *by_type.entry(et.to_string()).or_default() += 1;
        match et {
            "ok" => assert!(r.content().starts_with("ok "), "{i}: {:?}", r.content()),
            "provider_error" | "timeout" => {
                let kind = r.meta.error_kind.map(|k| k.as_str()).unwrap_or("none");
                assert!(KNOWN_KINDS.contains(&kind), "{i}: unclassified {kind}");
                assert_eq!(r.content(), "");
            }
            other => panic!("{i}: unexpected error_type {other}"),
        }
        if let Some(retries) = &r.meta.retries {
            if retries.last_retry_after_s == Some(1.0) && et == "ok" {
                // An item that saw a 429 and still succeeded retried after it, and that
                // retry slept the whole Retry-After second.
                assert!(
                    retries.total_sleep_ms >= 1000,
                    "{i}: slept only {} ms",
                    retries.total_sleep_ms
                );
                waited_after_429 += 1;
            }
        }
    }
    let ok = by_type.get("ok").copied().unwrap_or(0);
    let errors: usize = by_type
        .iter()
        .filter(|(k, _)| *k != "ok")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(ok + errors, N, "{by_type:?}");
    assert!(ok > N / 2, "retries should rescue most items: {by_type:?}");
    assert!(errors >= 2, "the invalid items fail: {by_type:?}");
    assert!(waited_after_429 > 0, "some items waited out a Retry-After");
    for fault in [
        Fault::ServerError,
        Fault::RateLimited,
        Fault::Reset,
        Fault::Slow,
        Fault::Truncated,
        Fault::NotJson,
    ] {
        assert!(chaos.stats.served(fault) > 0, "the mix served no {fault:?}");
    }
    eprintln!(
        "chaos: {N} items, {by_type:?}, upstream requests {}, waited after 429: {waited_after_429}",
        chaos
            .stats
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[test]
fn batch_with_chaos_kill_and_resume_keeps_every_line_once() {
    const N: usize = 2_000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let chaos = rt
        .block_on(ChaosServer::start(ChaosConfig {
            slow: Duration::from_millis(800),
            delay: Duration::from_millis(2),
            ..ChaosConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let lines: Vec<String> = (0..N).map(|i| item(i, &chaos.base()).to_string()).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let run = |resume: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scillm"));
        cmd.args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
            "--concurrency",
            "64",
            "--no-progress",
        ])
        .env("CODEX_AGENT_TIMEOUT_S", "0.3")
        .env("CODEX_AGENT_RETRY_BASE_MS", "5")
        .env("CODEX_AGENT_MAX_BACKOFF_MS", "20")
        .env_remove("SCILLM_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let mut child = run(false).spawn().unwrap();
    let mut written = 0;
    for _ in 0..4000 {
        written = std::fs::read_to_string(&output)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if written >= N / 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(written >= N / 4, "the batch never got going");
    let out = run(true).output().unwrap();
    // 0 when every line ended ok, 3 when some ended in error (all written).
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&output).unwrap();
    let results: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), N);
    let idx: Vec<u64> = results
        .iter()
        .map(|r| r["scillm_router"]["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, (0..N as u64).collect::<Vec<_>>());
    assert_eq!(idx.iter().collect::<BTreeSet<_>>().len(), N);
    for r in &results {
        let et = r["scillm_router"]["error_type"].as_str().unwrap();
        assert!(["ok", "provider_error", "timeout"].contains(&et), "{r}");
    }
}
