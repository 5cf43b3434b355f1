//! The real `scillm` binary: configuration errors, `config show`, `auth check`, `providers`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn scillm(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scillm"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    let home = tempfile::tempdir().unwrap();
    cmd.env("HOME", home.path()).current_dir(home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_v1_base_is_refused_with_the_variable_and_the_fix() {
    let out = scillm(
        &["config", "show"],
        &[("CODEX_AGENT_API_BASE", "http://127.0.0.1:8077/v1")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("CODEX_AGENT_API_BASE"), "{err}");
    assert!(err.contains("`http://127.0.0.1:8077`"), "{err}");
    let out = scillm(
        &["batch", "/nonexistent.jsonl"],
        &[("CODEX_AGENT_API_BASE", "http://127.0.0.1:8077/v1/")],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_show_names_sources_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scillm.toml");
    std::fs::write(
        &file,
        "[router]\nconcurrency = 5\n[[model_list]]\nmodel_name = \"m\"\nprovider = \"openai\"\napi_key = \"sk-file-999\"\n",
    )
    .unwrap();
    let out = scillm(
        &["--config", file.to_str().unwrap(), "config", "show"],
        &[
            ("CODEX_AGENT_API_KEY", "sk-env-123"),
            ("CODEX_SIDECAR_API_KEY", "sk-env-456"),
            ("CODEX_SIDECAR_PORT", "9100"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for secret in ["sk-env-123", "sk-env-456", "sk-file-999"] {
        assert!(
            !shown.contains(secret),
            "config show leaks {secret}:\n{shown}"
        );
    }
    assert!(shown.contains("[REDACTED]"));
    let line = shown
        .lines()
        .find(|l| l.starts_with("sidecar.port"))
        .unwrap();
    assert!(
        line.contains("9100") && line.contains("env CODEX_SIDECAR_PORT"),
        "{line}"
    );
    let line = shown
        .lines()
        .find(|l| l.starts_with("router.concurrency"))
        .unwrap();
    assert!(line.contains("key router.concurrency"), "{line}");
    let line = shown
        .lines()
        .find(|l| l.starts_with("codex_agent.max_retries"))
        .unwrap();
    assert!(line.ends_with("# default"), "{line}");
}

#[test]
fn auth_check_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let out = scillm(&["auth", "check", "--path", missing.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("missing"));

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let out = scillm(&["auth", "check", "--path", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));

    let good = dir.path().join("auth.json");
    std::fs::write(
        &good,
        r#"{"OPENAI_API_KEY":"sk-very-secret","tokens":{"access_token":"t"}}"#,
    )
    .unwrap();
    let out = scillm(&["auth", "check", "--path", good.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("OPENAI_API_KEY") && !shown.contains("sk-very-secret"),
        "{shown}"
    );

    // CODEX_AUTH_PATH is honoured when --path is absent.
    let out = scillm(
        &["auth", "check"],
        &[("CODEX_AUTH_PATH", good.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn providers_lists_the_compiled_in_providers() {
    let out = scillm(&["providers"], &[]);
    assert!(out.status.success());
    let shown = text(&out.stdout);
    assert!(
        shown.contains("codex-agent") && shown.contains("codex_cli_agent"),
        "{shown}"
    );
    assert!(shown.contains("openai"), "{shown}");
}
