//! `scillm sidecar` and `scillm mini-agent` serve for real: health, a chat, the doctor's
//! view of them, and a clean exit on SIGTERM; `scillm serve`'s start-up line and its
//! configuration errors (exit 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn wait_for(port: u16, path: &str) {
    let started = Instant::now();
    loop {
        if let Some(r) = http(port, "GET", path, "") {
            if r.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path} never became ready"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn serve(args: &[&str]) -> Server {
    Server(
        Command::new(env!("CARGO_BIN_EXE_scillm"))
            .args(args)
            .env_remove("SCILLM_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn sidecar_serves_chat_and_stops_on_sigterm() {
    let port = free_port();
    let mut server = serve(&["sidecar", "--echo", "--port", &port.to_string()]);
    wait_for(port, "/healthz");
    let health = http(port, "GET", "/healthz", "").unwrap();
    assert!(health.contains("\"echo\":true"), "{health}");
    let chat = http(
        port,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .unwrap();
    assert!(
        chat.starts_with("HTTP/1.1 200") && chat.contains("shim ok"),
        "{chat}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[test]
fn a_public_bind_without_a_key_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_scillm"))
        .args([
            "sidecar",
            "--echo",
            "--host",
            "0.0.0.0",
            "--port",
            &free_port().to_string(),
        ])
        .env_remove("CODEX_SIDECAR_API_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CODEX_SIDECAR_API_KEY") || err.contains("api key") || err.contains("API key"),
        "{err}"
    );
}

#[test]
fn mini_agent_serves_ready_and_the_doctor_sees_it() {
    let port = free_port();
    let _server = serve(&["mini-agent", "--echo", "--port", &port.to_string()]);
    wait_for(port, "/ready");
    let out = Command::new(env!("CARGO_BIN_EXE_scillm"))
        .arg("doctor")
        .env("CODEX_SIDECAR_ECHO", "1")
        .env_remove("CODEX_AGENT_API_BASE")
        .env("MINI_AGENT_API_PORT", port.to_string())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    let line = shown
        .lines()
        .find(|l| l.contains("mini-agent /ready"))
        .unwrap();
    assert!(line.starts_with("PASS"), "{line}");
}

#[test]
fn a_gateway_key_naming_an_unset_variable_is_a_configuration_error_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("scillm.toml");
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\nport = {}\ndata_dir = \"{}\"\n[[gateway.keys]]\nname = \"team-a\"\nkey = \"os.environ/SCILLM_TEST_UNSET_KEY\"\nmodels = [\"*\"]\n[[model_list]]\nmodel_name = \"m\"\nprovider = \"openai\"\napi_base = \"http://127.0.0.1:9\"\n",
            free_port(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scillm"))
        .arg("serve")
        .env("SCILLM_CONFIG", &cfg)
        .env_remove("SCILLM_TEST_UNSET_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SCILLM_TEST_UNSET_KEY"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
}

/// `scillm serve` with the config file `cfg` on a free port, and the first stderr line that
/// says it listens (within 20 s).
fn serve_until_listening(cfg: &std::path::Path) -> (Server, u16, String) {
    serve_in_until_listening(cfg, cfg.parent().unwrap())
}

/// [`serve_until_listening`] with `cwd` as the working directory.
fn serve_in_until_listening(cfg: &std::path::Path, cwd: &std::path::Path) -> (Server, u16, String) {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_scillm"))
        .args(["serve", "--port", &port.to_string()])
        .current_dir(cwd)
        .env("SCILLM_CONFIG", cfg)
        .env_remove("SCILLM_REDIS_URL")
        .env_remove("LITELLM_REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no start-up line in 20 s; stderr:\n{seen}"));
        if line.contains("listening on") {
            return (server, port, line);
        }
        seen.push_str(&line);
        seen.push('\n');
    }
}

/// `dir/scillm.toml`: `extra` TOML, `[gateway] data_dir = dir/data` and one model `m`;
/// the file and the data_dir.
fn gateway_config(dir: &std::path::Path, extra: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let cfg = dir.join("scillm.toml");
    let data = dir.join("data");
    std::fs::write(
        &cfg,
        format!(
            "{extra}[gateway]\ndata_dir = \"{}\"\n[[model_list]]\nmodel_name = \"m\"\nprovider = \"openai\"\napi_base = \"http://127.0.0.1:9\"\n",
            data.display()
        ),
    )
    .unwrap();
    (cfg, data)
}

#[test]
fn the_start_up_line_says_where_state_lives_without_the_redis_password() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: the gateway starts on local limits (SPEC §18).
    let (cfg, data) = gateway_config(
        dir.path(),
        "[state]\nredis_url = \"redis://ops:hunter2secret@127.0.0.1:1/3\"\n[cache]\nmode = \"local\"\n",
    );
    let (_server, port, line) = serve_until_listening(&cfg);
    assert!(line.contains(&format!("http://127.0.0.1:{port}")), "{line}");
    assert!(line.contains("1 models: m"), "{line}");
    assert!(
        line.contains("shared through the Redis at redis://127.0.0.1:1/3"),
        "{line}"
    );
    assert!(
        !line.contains("hunter2secret") && !line.contains("ops"),
        "{line}"
    );
    assert!(line.contains("cache local"), "{line}");
    assert!(line.contains(&data.display().to_string()), "{line}");
}

#[test]
fn a_second_gateway_on_the_same_data_dir_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, data) = gateway_config(dir.path(), "");
    let (_first, _, line) = serve_until_listening(&cfg);
    assert!(
        line.contains("limits and cooldowns in this process"),
        "{line}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_scillm"))
        .args(["serve", "--port", &free_port().to_string()])
        .env("SCILLM_CONFIG", &cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&data.display().to_string()), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn an_unusable_default_data_dir_leaves_chat_up_and_the_batch_api_saying_why() {
    // No data_dir configured, and the default one (in the working directory) cannot be
    // made: e.g. a read-only root filesystem where only chat is wanted.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scillm-gateway-data"), "in the way").unwrap();
    let cfg = dir.path().join("scillm.toml");
    std::fs::write(
        &cfg,
        "[[model_list]]\nmodel_name = \"m\"\nprovider = \"openai\"\napi_base = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let (_server, port, _) = serve_in_until_listening(&cfg, dir.path());
    let files = http(port, "GET", "/v1/files", "").unwrap();
    assert!(files.starts_with("HTTP/1.1 500"), "{files}");
    assert!(files.contains("scillm-gateway-data"), "{files}");
}
