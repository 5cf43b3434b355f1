//! `scillm batch` interrupted (SPEC §14): SIGINT / SIGTERM to the process group exit
//! 130 / 143 with a summary and valid output, leave no process behind (Codex CLI children
//! included), and `--resume` completes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod batch_support;

use std::time::{Duration, Instant};

use batch_support::*;
use scillm_testkit::chat_mock::ChatMock;

fn interrupt(signal: nix::sys::signal::Signal, code: i32) {
    const N: usize = 60;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(
            ChatMock::builder()
                .latency(Duration::from_millis(300))
                .start(),
        )
        .unwrap();
    let b = Batch::new(N, &mock);
    let (mut child, pgid) = spawn_in_group(&mut b.cmd(&["--concurrency", "4"]));
    wait_for_lines(&journal(&b.output), 4, &mut child);
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("p99_ms"),
        "{stderr}"
    );
    assert!(stderr.contains("missing:"), "{stderr}");
    // Valid JSONL, an in-order prefix.
    let partial = read_results(&b.output);
    assert!(partial.len() < N);
    for (i, r) in partial.iter().enumerate() {
        assert_eq!(r["scillm_router"]["index"], i);
    }
    assert!(
        group_members(pgid).is_empty(),
        "processes left in the group"
    );

    let out = b.cmd(&["--resume"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = read_results(&b.output);
    assert_eq!(done.len(), N);
    for (i, r) in done.iter().enumerate() {
        assert_eq!(r["scillm_router"]["index"], i);
        assert_eq!(r["scillm_router"]["error_type"], "ok");
    }
}

#[test]
fn sigint_to_the_process_group_exits_130_with_a_summary_and_resume_completes() {
    interrupt(nix::sys::signal::Signal::SIGINT, 130);
}

#[test]
fn sigterm_exits_143_with_a_summary_and_resume_completes() {
    interrupt(nix::sys::signal::Signal::SIGTERM, 143);
}

/// Processes that are still running (not zombies) among `pids`.
fn alive(pids: &[i32]) -> Vec<i32> {
    pids.iter()
        .copied()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                let rest = &s[s.rfind(')').unwrap() + 2..];
                !rest.starts_with('Z')
            })
        })
        .collect()
}

// The embedded sidecar serves on a thread and runtime of its own, so a Codex child whose
// request was cancelled could still be alive when the process exits; the batch's
// interruption path kills them through `embedded::shutdown_all` (SPEC §12, "no orphans").
// The exec backend gives one process per line in flight, which this test counts.
#[test]
fn sigint_mid_run_leaves_no_codex_children_behind() {
    // Orphans would be re-parented to this process, so a leak stays visible here.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    std::fs::write(&auth, r#"{"OPENAI_API_KEY":null}"#).unwrap();
    let pids_file = dir.path().join("pids");
    // A Codex CLI that records its pid and then works for a long time.
    let fake = dir.path().join("codex");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho $$ >> '{}'\nexec sleep 60\n",
            pids_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    write_lines(&input, &(0..20).map(plain).collect::<Vec<_>>());
    let (mut child, pgid) = spawn_in_group(
        scillm()
            .env_remove("CODEX_SIDECAR_ECHO")
            .env("CODEX_CMD", &fake)
            .env("CODEX_BACKEND", "exec")
            .env("CODEX_AUTH_PATH", &auth)
            .args([
                "batch",
                input.to_str().unwrap(),
                "-o",
                output.to_str().unwrap(),
            ])
            .args(["--concurrency", "4", "--no-progress"]),
    );
    let read_pids = || -> Vec<i32> {
        std::fs::read_to_string(&pids_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    let t = Instant::now();
    while read_pids().len() < 4 {
        assert!(child.try_wait().unwrap().is_none(), "the batch ended early");
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no Codex process started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(alive(&read_pids()).len(), 4, "four Codex processes at work");
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // Every line in flight ended `cancelled` and was written.
    let results = read_results(&output);
    assert_eq!(results.len(), 4, "{stderr}");
    assert!(results
        .iter()
        .all(|r| r["scillm_router"]["error_kind"] == "cancelled"));
    // The Codex processes went with the batch (killed and reaped, or at worst zombies
    // re-parented to this process).
    let t = Instant::now();
    while !alive(&read_pids()).is_empty() && t.elapsed() < Duration::from_secs(5) {
        let _ = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        alive(&read_pids()),
        Vec::<i32>::new(),
        "Codex processes left behind (started: {:?}); {stderr}",
        read_pids()
    );
}
