//! `scillm batch` through the real binary: order, malformed lines, summary, and `--resume`
//! after the process is killed mid-batch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use scillm_testkit::chaos::{ChaosConfig, ChaosServer};
use serde_json::Value;

fn scillm() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scillm"));
    cmd.env_remove("CODEX_AGENT_API_BASE")
        .env_remove("SCILLM_CONFIG")
        .env("CODEX_SIDECAR_ECHO", "1");
    cmd
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::File::create(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn read_results(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn plain(i: usize) -> String {
    format!(
        r#"{{"model":"codex-agent/gpt-5","messages":[{{"role":"user","content":"item {i}"}}]}}"#
    )
}

#[test]
fn one_line_per_input_line_in_order_with_malformed_lines_kept() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let mut lines: Vec<String> = (0..40).map(plain).collect();
    lines[3] = "{not json".into();
    lines[7] = r#"{"messages":[]}"#.into();
    lines[11] = "   ".into();
    lines[15] =
        r#"{"model":"codex-agent/gpt-5","messages":[{"role":"wizard","content":"x"}]}"#.into();
    write_lines(&input, &lines);
    let out = scillm()
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
            "--concurrency",
            "8",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let results = read_results(&output);
    assert_eq!(results.len(), 40);
    for (i, r) in results.iter().enumerate() {
        let meta = &r["scillm_router"];
        assert_eq!(meta["index"], i, "line {i} out of order");
        let bad = [3, 7, 11, 15].contains(&i);
        let et = meta["error_type"].as_str().unwrap();
        if bad {
            assert_eq!(et, "provider_error", "line {i}: {r}");
            assert_eq!(meta["error_kind"], "invalid_request", "line {i}: {r}");
            assert_eq!(r["choices"][0]["message"]["content"], "", "line {i}");
        } else {
            assert_eq!(et, "ok", "line {i}: {r}");
            assert_eq!(r["choices"][0]["message"]["content"], "shim ok");
            assert_eq!(meta["provider"], "codex-agent");
        }
    }
    // The summary table counts by error_type with times.
    assert!(
        stderr.contains("error_type") && stderr.contains("p99_ms"),
        "{stderr}"
    );
    let ok_row = stderr.lines().find(|l| l.starts_with("ok ")).unwrap();
    assert!(ok_row.split_whitespace().nth(1) == Some("36"), "{ok_row}");
    let err_row = stderr
        .lines()
        .find(|l| l.starts_with("provider_error"))
        .unwrap();
    assert!(err_row.split_whitespace().nth(1) == Some("4"), "{err_row}");
}

#[test]
fn resume_after_a_kill_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    const N: usize = 300;
    write_lines(&input, &(0..N).map(plain).collect::<Vec<_>>());
    // A slow upstream keeps the batch going long enough for the kill to land mid-way.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let upstream = rt
        .block_on(ChaosServer::start(ChaosConfig::healthy(
            Duration::from_millis(10),
        )))
        .unwrap();
    let base = upstream.base();
    let target = ["--provider", "openai", "--api-base", base.as_str()];
    let mut child = scillm()
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
            "--concurrency",
            "2",
            "--no-progress",
        ])
        .args(target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some (but not all) lines are written, then kill -9.
    let mut written = 0;
    for _ in 0..2000 {
        written = std::fs::read_to_string(&output)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if written >= 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_to_string(&output).unwrap().lines().count();
    assert!(written >= 20, "the batch never got going");
    assert!(before < N, "the batch finished before the kill; raise N");

    let out = scillm()
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
            "--resume",
            "--concurrency",
            "8",
        ])
        .args(target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = read_results(&output);
    assert_eq!(results.len(), N, "every input line exactly once");
    let indices: Vec<u64> = results
        .iter()
        .map(|r| r["scillm_router"]["index"].as_u64().unwrap())
        .collect();
    let unique: BTreeSet<u64> = indices.iter().copied().collect();
    assert_eq!(unique.len(), N, "no duplicates");
    assert_eq!(indices, (0..N as u64).collect::<Vec<_>>(), "input order");
    assert!(String::from_utf8_lossy(&out.stderr).contains("resumed:"));
    assert!(results
        .iter()
        .all(|r| r["scillm_router"]["error_type"] == "ok"));
    // The upstream saw each request once, plus at most the two in flight at the kill.
    let seen = upstream
        .stats
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        seen >= N as u64 && seen <= N as u64 + 2,
        "upstream saw {seen} requests"
    );
}
