//! `scillm doctor` (what `cargo xtask verify` runs): passes against the echo sidecar, fails
//! naming the check when the base ends in /v1 or the sidecar is down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use serde_json::Value;

fn doctor(env: &[(&str, &str)], json: bool) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scillm"));
    cmd.arg("doctor")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .current_dir(home.path())
        // Nothing listens here, so the mini-agent check is a warning, not a pass.
        .env("MINI_AGENT_API_PORT", "9");
    if json {
        cmd.arg("--json");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn passes_against_the_embedded_echo_sidecar() {
    let out = doctor(&[("CODEX_SIDECAR_ECHO", "1")], false);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "config loads",
        "provider codex-agent registered",
        "sidecar /healthz ok",
        "chat returns string content",
        "parallel probe",
        "retry metadata",
    ] {
        let line = shown
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{shown}"));
        assert!(line.starts_with("PASS"), "{line}");
    }
    let mini = shown
        .lines()
        .find(|l| l.contains("mini-agent /ready"))
        .unwrap();
    assert!(mini.starts_with("WARN"), "{mini}");
    assert!(shown.contains("all blocking checks passed"));
}

#[test]
fn json_output_lists_every_check() {
    let out = doctor(&[("CODEX_SIDECAR_ECHO", "1")], true);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 9);
    assert!(checks
        .iter()
        .all(|c| c["ms"].is_u64() && c["status"].is_string()));
}

#[test]
fn fails_naming_the_check_when_the_base_ends_in_v1() {
    let out = doctor(
        &[("CODEX_AGENT_API_BASE", "http://127.0.0.1:8077/v1")],
        false,
    );
    assert!(!out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    let line = shown.lines().find(|l| l.contains("config loads")).unwrap();
    assert!(
        line.starts_with("FAIL") && line.contains("CODEX_AGENT_API_BASE"),
        "{line}"
    );
    assert!(shown.contains("verify: FAILED: config loads"), "{shown}");
}

#[test]
fn fails_naming_the_check_when_the_sidecar_is_down() {
    let base = format!("http://127.0.0.1:{}", free_port());
    let out = doctor(&[("CODEX_AGENT_API_BASE", &base)], false);
    assert!(!out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    let line = shown
        .lines()
        .find(|l| l.contains("sidecar /healthz"))
        .unwrap();
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(shown.contains("verify: FAILED"), "{shown}");
}
