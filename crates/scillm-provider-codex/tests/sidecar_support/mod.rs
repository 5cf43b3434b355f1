//! Shared helpers of the sidecar integration tests: configs, fixtures, a running sidecar.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use scillm_core::config::ConfigLoader;
use scillm_core::Config;
use scillm_provider_codex::sidecar::{RunningSidecar, Sidecar};
use serde_json::{json, Value};

/// A fault CLI script under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A config from explicit values only (the process environment is not read).
pub fn config(values: &[(&str, Value)]) -> Config {
    let mut loader = ConfigLoader::new()
        .no_file()
        .env_from(std::iter::empty::<(String, String)>());
    for (k, v) in values {
        loader = loader.set(k, v.clone());
    }
    loader.load().expect("test config loads")
}

/// An echo-mode config.
pub fn echo_config() -> Config {
    config(&[("sidecar.echo", json!(true))])
}

/// A temp dir with a dummy (valid JSON) `auth.json`.
pub fn auth_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("auth.json"), r#"{"OPENAI_API_KEY":null}"#).unwrap();
    dir
}

/// A config that runs `script` (a fixture) as `codex exec` (`CODEX_BACKEND=exec`),
/// credentials in `auth`.
pub fn cli_config(script: &str, auth: &Path, extra: &[(&str, Value)]) -> Config {
    let mut values = vec![
        ("sidecar.backend", json!("exec")),
        ("sidecar.cmd", json!(fixture(script).display().to_string())),
        (
            "sidecar.auth_path",
            json!(auth.join("auth.json").display().to_string()),
        ),
    ];
    values.extend(extra.iter().cloned());
    config(&values)
}

/// Start `config` on an ephemeral port with `env` for the CLI.
pub async fn start(config: Config, env: &[(&str, &Path)]) -> RunningSidecar {
    let env: Vec<(OsString, OsString)> = env
        .iter()
        .map(|(k, v)| (OsString::from(k), v.as_os_str().to_owned()))
        .collect();
    Sidecar::with_cli_env(Arc::new(config), env)
        .unwrap()
        .spawn()
        .await
        .unwrap()
}

/// A chat request body.
pub fn chat_body(content: Value, stream: bool) -> Value {
    json!({
        "model": "gpt-5",
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
    })
}

/// POST a chat body; returns status, headers and the body text.
pub async fn post_chat(base: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// The OpenAI error object of an error answer (panics when the body is not one).
pub fn error_of(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    let e = v
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("no error object: {body}"));
    assert!(e["message"].is_string(), "{body}");
    assert!(e["type"].is_string(), "{body}");
    assert!(e.get("code").is_some(), "{body}");
    e
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim().to_string())
        .collect()
}

/// The content of the streamed chunks, concatenated.
pub fn streamed_text(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

/// A 1×1 PNG as a data URL.
pub const PNG_DATA_URL: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

pub use scillm_testkit::external;

/// A file's text (`""` when missing).
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Wait for a file a fixture writes (the fixture is running once it exists).
pub async fn wait_for_file(p: &Path) {
    for _ in 0..2000 {
        if p.exists() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{} never appeared", p.display());
}

/// Processes of group `pgid` still running (a zombie awaiting its reaper is dead).
pub fn live_members(pgid: i32) -> Vec<i32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`: state ppid pgrp …
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
            && !matches!(fields.first(), Some(&"Z") | Some(&"X"))
        {
            live.push(pid);
        }
    }
    live
}

/// Wait until group `pgid` is gone: `kill(-pgid, 0)` answers ESRCH. Killed processes may
/// take a moment to be reaped by init, so this polls (bounded); if init never reaps them,
/// zombies (dead, not running) are accepted.
pub async fn assert_group_gone(pgid: i32) {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    for _ in 0..1000 {
        if kill(Pid::from_raw(-pgid), None) == Err(Errno::ESRCH) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let left = live_members(pgid);
    assert!(
        left.is_empty(),
        "processes of group {pgid} still running: {left:?}"
    );
}

/// A `CODEX_HOME` whose config selects a Responses mock at `mock_base`, with a dummy
/// `auth.json`. The per-thread login shell of the shell snapshot is switched off (a slow
/// `~/.bashrc` would otherwise dominate every turn).
pub fn codex_home(mock_base: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let config = format!(
        r#"model = "gpt-5"
model_provider = "mock"
approval_policy = "never"

[features]
shell_snapshot = false

[model_providers.mock]
name = "Loopback mock"
base_url = "{mock_base}/v1"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"#
    );
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    std::fs::write(
        home.path().join("auth.json"),
        r#"{"OPENAI_API_KEY":"sk-dummy-not-used"}"#,
    )
    .unwrap();
    home
}

/// A config running the real Codex CLI `codex` with `backend` (`app-server` or `exec`).
pub fn real_config(codex: &Path, backend: &str, extra: &[(&str, Value)]) -> Config {
    let mut values = vec![
        (
            "sidecar.cmd",
            json!(format!(
                "{} exec --json --skip-git-repo-check --sandbox read-only",
                codex.display()
            )),
        ),
        ("sidecar.backend", json!(backend)),
        ("sidecar.abs_timeout_s", json!(120.0)),
        ("sidecar.idle_timeout_s", json!(60.0)),
        ("sidecar.retries", json!(0)),
        ("sidecar.echo", json!(false)),
    ];
    values.extend(extra.iter().cloned());
    config(&values)
}

/// The real Codex CLI of `SCILLM_TEST_CODEX`.
pub fn real_codex() -> Option<PathBuf> {
    external(
        "SCILLM_TEST_CODEX",
        "the codex binary of the pinned @openai/codex",
    )
}

/// Direct children of `pid` whose command line contains `needle`.
pub fn children_of(pid: u32, needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) != Some(pid)
            || matches!(fields.first(), Some(&"Z") | Some(&"X"))
        {
            continue;
        }
        let cmd = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(child);
        }
    }
    out
}

/// GET `/healthz`.
pub async fn health(base: &str) -> Value {
    reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Poll `cond` (bounded, every 20 ms for up to 30 s) until it holds.
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Hold `mock`'s answers, send a chat to the app-server sidecar at `base`, SIGKILL the
/// app-server's process group while the turn waits for the model, then release the mock.
/// Returns the killed child's pid and that chat's status and body.
pub async fn chat_while_the_app_server_is_killed(
    base: &str,
    mock: &scillm_testkit::responses_mock::ResponsesMock,
) -> (i32, u16, String) {
    let pid = health(base).await["app_server"]["pid"].as_i64().unwrap() as i32;
    mock.hold();
    let b = base.to_string();
    let in_flight =
        tokio::spawn(async move { post_chat(&b, &chat_body(json!("hi"), false)).await });
    until("the model request", || mock.held() == 1).await;
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (status, _, text) = in_flight.await.unwrap();
    mock.release();
    (pid, status, text)
}
