//! Helpers of the `scillm batch` tests: input files, result reading, a batch against the
//! mock upstream, process groups.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scillm_testkit::chat_mock::ChatMock;
use serde_json::Value;

pub fn scillm() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scillm"));
    cmd.env_remove("CODEX_AGENT_API_BASE")
        .env_remove("SCILLM_CONFIG")
        .env("CODEX_SIDECAR_ECHO", "1");
    cmd
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::File::create(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

pub fn read_results(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The complete lines of `path` by `scillm_router.index` (the last one of an index wins).
pub fn lines_by_index(path: &Path) -> BTreeMap<u64, String> {
    let text = std::fs::read(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for piece in text.split_inclusive(|b| *b == b'\n') {
        if piece.last() != Some(&b'\n') {
            break;
        }
        let s = String::from_utf8(piece.to_vec()).unwrap();
        let v: Value = serde_json::from_str(&s).unwrap();
        out.insert(v["scillm_router"]["index"].as_u64().unwrap(), s);
    }
    out
}

pub fn journal(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".journal");
    s.into()
}

pub fn plain(i: usize) -> String {
    format!(
        r#"{{"model":"codex-agent/gpt-5","messages":[{{"role":"user","content":"item {i}"}}]}}"#
    )
}

pub fn mocked(i: usize) -> String {
    format!(r#"{{"model":"m","messages":[{{"role":"user","content":"item {i}"}}]}}"#)
}

/// A batch of `mocked` lines against `mock`, in `dir`.
pub struct Batch {
    _dir: tempfile::TempDir,
    /// The input file.
    pub input: PathBuf,
    /// The output file.
    pub output: PathBuf,
    base: String,
}

impl Batch {
    pub fn new(n: usize, mock: &ChatMock) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jsonl");
        let output = dir.path().join("out.jsonl");
        write_lines(&input, &(0..n).map(mocked).collect::<Vec<_>>());
        Self {
            _dir: dir,
            input,
            output,
            base: mock.base_url(),
        }
    }

    pub fn cmd(&self, extra: &[&str]) -> Command {
        let mut cmd = scillm();
        cmd.args(["batch", self.input.to_str().unwrap(), "-o"])
            .arg(&self.output)
            .args([
                "--provider",
                "openai",
                "--api-base",
                &self.base,
                "--no-progress",
            ])
            .args(extra)
            .env("CODEX_AGENT_MAX_RETRIES", "0");
        cmd
    }
}

/// Requests the mock received, by line (`item {i}`).
pub fn requests_per_line(mock: &ChatMock) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for r in mock.requests() {
        if let Some(i) = r.last_text().strip_prefix("item ") {
            *counts.entry(i.parse().unwrap()).or_default() += 1;
        }
    }
    counts
}

pub fn wait_for_lines(path: &Path, n: usize, child: &mut Child) {
    let t = Instant::now();
    while lines_by_index(path).len() < n {
        assert!(child.try_wait().unwrap().is_none(), "the batch ended early");
        assert!(t.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Start `cmd` as the leader of a process group of its own; returns it and the group id.
pub fn spawn_in_group(cmd: &mut Command) -> (Child, i32) {
    let child = cmd
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    (child, pgid)
}

/// Processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // Fields after the command name: state ppid pgrp …
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let pgrp: i32 = rest.split(' ').nth(2).unwrap().parse().unwrap();
        if pgrp == pgid {
            out.push(pid);
        }
    }
    out
}
