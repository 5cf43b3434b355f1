//! No orphans (SPEC §12): the Codex children of `scillm batch`'s embedded sidecar die when
//! its process group gets SIGINT (within 2 s), and by the parent-death signal when the
//! process is killed outright.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `scillm batch` of `n` lines through the embedded sidecar running the slow fault CLI,
/// as the leader of its own process group (as a shell would start it).
fn start_batch(dir: &Path, n: usize) -> Child {
    let input = dir.join("in.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    for i in 0..n {
        writeln!(
            f,
            r#"{{"model":"codex-agent/gpt-5","messages":[{{"role":"user","content":"item {i}"}}]}}"#
        )
        .unwrap();
    }
    std::fs::write(dir.join("auth.json"), r#"{"OPENAI_API_KEY":null}"#).unwrap();
    Command::new(env!("CARGO_BIN_EXE_scillm"))
        .args(["batch", input.to_str().unwrap(), "--no-progress", "-o"])
        .arg(dir.join("out.jsonl"))
        .env_remove("CODEX_AGENT_API_BASE")
        .env_remove("SCILLM_CONFIG")
        .env_remove("CODEX_SIDECAR_ECHO")
        .env("CODEX_BACKEND", "exec")
        .env("CODEX_CMD", fixture("slow_codex.sh"))
        .env("CODEX_AUTH_PATH", dir.join("auth.json"))
        .env("CODEX_ENV_PASSTHROUGH", "STATE_DIR")
        .env("STATE_DIR", dir)
        .env("MAX_CONCURRENCY", "4")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// The pids the fault CLIs recorded, once `n` of them run.
fn wait_for_children(dir: &Path, n: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pids: Vec<i32> = std::fs::read_to_string(dir.join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.len() >= n {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "only {} CLIs started",
            pids.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` still runs (a zombie waiting for its reaper does not).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next()),
            Some("Z") | Some("X")
        ),
        Err(_) => false,
    }
}

fn assert_all_gone_within(pids: &[i32], since: Instant, limit: Duration) {
    while since.elapsed() < limit {
        if pids.iter().all(|p| !running(*p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<i32> = pids.iter().copied().filter(|p| running(*p)).collect();
    for p in &left {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    panic!("Codex CLI processes still running {limit:?} after the signal: {left:?}");
}

#[test]
fn sigint_to_a_batch_kills_its_codex_children_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut batch = start_batch(dir.path(), 4);
    let pids = wait_for_children(dir.path(), 4);
    let pgid = Pid::from_raw(batch.id() as i32);
    let sent = Instant::now();
    killpg(pgid, Signal::SIGINT).unwrap();
    assert_all_gone_within(&pids, sent, Duration::from_secs(2));
    let status = batch.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[test]
fn a_killed_batch_takes_its_codex_children_along() {
    let dir = tempfile::tempdir().unwrap();
    let mut batch = start_batch(dir.path(), 2);
    let pids = wait_for_children(dir.path(), 2);
    let sent = Instant::now();
    // SIGKILL cannot be handled: only the parent-death signal can stop the children.
    kill(Pid::from_raw(batch.id() as i32), Signal::SIGKILL).unwrap();
    let _ = batch.wait();
    assert_all_gone_within(&pids, sent, Duration::from_secs(2));
}
