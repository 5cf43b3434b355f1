//! `scillm batch` through the real binary (SPEC §14): order, malformed lines, summary,
//! exit codes, `--resume` after kill -9, `--fail-fast` then `--resume`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod batch_support;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use batch_support::*;
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::Value;

#[test]
fn one_line_per_input_line_in_order_with_malformed_lines_kept_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let summary = dir.path().join("summary.json");
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
        ])
        .args([
            "--concurrency",
            "8",
            "--summary-json",
            summary.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "some lines failed: {stderr}");
    let results = read_results(&output);
    assert_eq!(results.len(), 40);
    for (i, r) in results.iter().enumerate() {
        let meta = &r["scillm_router"];
        assert_eq!(meta["index"], i, "line {i} out of order");
        let et = meta["error_type"].as_str().unwrap();
        if [3, 7, 11, 15].contains(&i) {
            assert_eq!(et, "provider_error", "line {i}: {r}");
            assert_eq!(meta["error_kind"], "invalid_request", "line {i}: {r}");
            assert_eq!(r["choices"][0]["message"]["content"], "", "line {i}");
        } else {
            assert_eq!(et, "ok", "line {i}: {r}");
            assert_eq!(r["choices"][0]["message"]["content"], "shim ok");
        }
    }
    assert!(
        stderr.contains("p99_ms") && stderr.contains("tokens:"),
        "{stderr}"
    );
    assert!(stderr.contains("requests/s"), "{stderr}");
    // Not a terminal: plain progress lines instead of a bar, the last one at the end.
    assert!(
        stderr.contains("batch: 40/40 done (ok 36, errors 4)"),
        "{stderr}"
    );
    let ok_row = stderr.lines().find(|l| l.starts_with("ok ")).unwrap();
    assert_eq!(ok_row.split_whitespace().nth(1), Some("36"), "{ok_row}");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["by_error_type"]["ok"]["count"], 36);
    assert_eq!(s["by_error_type"]["provider_error"]["count"], 4);
    assert_eq!(s["total_lines"], 40);
    assert_eq!(s["missing"], 0);
    assert!(
        s["tokens"].get("reasoning").is_some() && s["requests_per_second"].as_f64().unwrap() > 0.0
    );
    assert!(!journal(&output).exists());
}

#[test]
fn exit_codes_0_all_ok_and_2_on_usage_or_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    write_lines(&input, &(0..5).map(plain).collect::<Vec<_>>());
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = scillm();
        cmd.arg("batch").args(args).envs(env.iter().copied());
        cmd.output().unwrap().status.code()
    };
    let (i, o) = (input.to_str().unwrap(), output.to_str().unwrap());
    assert_eq!(run(&[i, "-o", o], &[]), Some(0));
    assert_eq!(read_results(&output).len(), 5);
    // Configuration error: a base ending in /v1.
    let bad = [("CODEX_AGENT_API_BASE", "http://127.0.0.1:9/v1")];
    assert_eq!(run(&[i, "-o", o], &bad), Some(2));
    // Usage errors: a missing input, --resume without an output, an unknown order.
    assert_eq!(run(&["/nonexistent/in.jsonl", "-o", o], &[]), Some(2));
    assert_eq!(run(&[i, "--resume"], &[]), Some(2));
    assert_eq!(run(&[i, "-o", o, "--order", "sideways"], &[]), Some(2));
}

#[test]
fn completed_order_marks_every_line_with_its_index() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(
            ChatMock::builder()
                .respond_with(|r| {
                    let ms = if r.last_text() == "item 0" { 400 } else { 0 };
                    MockReply::ok("x").with_delay(Duration::from_millis(ms))
                })
                .start(),
        )
        .unwrap();
    let b = Batch::new(2, &mock);
    let out = b
        .cmd(&["--order", "completed", "--concurrency", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let idx: Vec<u64> = read_results(&b.output)
        .iter()
        .map(|r| r["scillm_router"]["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![1, 0], "the fast line first");
}

#[test]
fn kill_9_then_resume_keeps_finished_results_byte_identical_and_unrequested() {
    const N: usize = 400;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(
            ChatMock::builder()
                .respond_with(|r| {
                    MockReply::ok(r.last_text()).with_delay(Duration::from_millis(20))
                })
                .start(),
        )
        .unwrap();
    let b = Batch::new(N, &mock);
    let mut child = b
        .cmd(&["--concurrency", "16"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A random point under load.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let target = 40 + nanos % 200;
    wait_for_lines(&journal(&b.output), target, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    // Everything reported finished: the journal (and the output made from it).
    let finished = lines_by_index(&journal(&b.output));
    for (i, line) in lines_by_index(&b.output) {
        assert_eq!(
            finished.get(&i),
            Some(&line),
            "output line {i} is not in the journal"
        );
    }
    assert!(
        finished.len() >= target && finished.len() < N,
        "{} finished",
        finished.len()
    );

    let out = b
        .cmd(&["--resume", "--concurrency", "16"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("resumed:"), "{stderr}");
    let after = std::fs::read_to_string(&b.output).unwrap();
    let lines: Vec<&str> = after.split_inclusive('\n').collect();
    assert_eq!(lines.len(), N, "every index exactly once");
    for (i, line) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["scillm_router"]["index"], i);
        assert_eq!(v["scillm_router"]["error_type"], "ok");
        if let Some(before) = finished.get(&(i as u64)) {
            assert_eq!(before, line, "line {i} changed across the resume");
        }
    }
    let counts = requests_per_line(&mock);
    for i in 0..N as u64 {
        let n = counts.get(&i).copied().unwrap_or(0);
        if finished.contains_key(&i) {
            assert_eq!(n, 1, "finished line {i} was requested again");
        } else {
            assert!(n >= 1, "line {i} never requested");
        }
    }
    assert!(!journal(&b.output).exists());
}

#[test]
fn fail_fast_then_resume_runs_the_cancelled_lines_and_retry_errors_the_failed_one() {
    const N: usize = 40;
    let failing = Arc::new(AtomicBool::new(true));
    let f = Arc::clone(&failing);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(
            ChatMock::builder()
                .respond_with(move |r| {
                    if r.last_text() == "item 5" && f.load(Ordering::SeqCst) {
                        MockReply::status(400)
                    } else {
                        MockReply::ok("fine").with_delay(Duration::from_millis(30))
                    }
                })
                .start(),
        )
        .unwrap();
    let b = Batch::new(N, &mock);
    let out = b
        .cmd(&["--fail-fast", "--concurrency", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let first = read_results(&b.output);
    assert_eq!(first.len(), N, "every line gets a result");
    assert_eq!(first[5]["scillm_router"]["error_kind"], "bad_request");
    let cancelled: Vec<usize> = (0..N)
        .filter(|i| first[*i]["scillm_router"]["error_kind"] == "cancelled")
        .collect();
    assert!(
        cancelled.contains(&(N - 1)),
        "later lines are cancelled: {cancelled:?}"
    );

    let out = b.cmd(&["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "line 5 still failed");
    let second = read_results(&b.output);
    assert_eq!(second.len(), N);
    for (i, r) in second.iter().enumerate() {
        assert_eq!(r["scillm_router"]["index"], i);
        if i == 5 {
            assert_eq!(r["scillm_router"]["error_kind"], "bad_request");
        } else {
            assert_eq!(r["scillm_router"]["error_type"], "ok", "line {i}: {r}");
        }
    }
    let counts = requests_per_line(&mock);
    assert_eq!(counts[&5], 1, "--resume keeps a failed line");
    for i in &cancelled {
        assert!(counts[&(*i as u64)] >= 1, "cancelled line {i} never ran");
    }

    failing.store(false, Ordering::SeqCst);
    let out = b.cmd(&["--retry-errors"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(requests_per_line(&mock)[&5], 2);
    let third = read_results(&b.output);
    assert!(third
        .iter()
        .all(|r| r["scillm_router"]["error_type"] == "ok"));
}
