//! `scillm serve` as a process, driven by real clients: the official OpenAI Python SDK
//! (chat, stream, fallback, error classes, the Batch API), LiteLLM as a client, a batch
//! that survives the gateway being killed (SIGKILL) and restarted, and a client's
//! `traceparent` continued through the gateway's spans to the upstream call. Python comes
//! from `SCILLM_TEST_PYTHON` (a venv with `openai` and `litellm`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scillm_testkit::chat_mock::{ChatMock, MockReply};
use scillm_testkit::otlp::OtlpReceiver;

const FULL_KEY: &str = "sk-gateway-full-test";
const NARROW_KEY: &str = "sk-gateway-narrow-test";

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use scillm_testkit::external;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Mocks {
    alpha: ChatMock,
    beta: ChatMock,
    broken: ChatMock,
    limited: ChatMock,
}

async fn mocks(beta_latency: Duration) -> Mocks {
    Mocks {
        alpha: ChatMock::builder()
            .content("from alpha")
            .start()
            .await
            .unwrap(),
        beta: ChatMock::builder()
            .content("from beta")
            .latency(beta_latency)
            .record(false)
            .start()
            .await
            .unwrap(),
        broken: ChatMock::builder()
            .respond_with(|_| MockReply::status(500))
            .start()
            .await
            .unwrap(),
        limited: ChatMock::builder()
            .respond_with(|_| MockReply::status(429).with_retry_after("7"))
            .start()
            .await
            .unwrap(),
    }
}

/// A complete gateway config: two deployments (`alpha`, `beta`), `broken` falling back
/// to `alpha`, `limited`, two keys, and the data dir.
fn write_config(dir: &Path, m: &Mocks) -> PathBuf {
    let dep = |name: &str, mock: &ChatMock| {
        format!(
            "[[model_list]]\nmodel_name = \"{name}\"\nprovider = \"openai\"\nmodel = \"upstream-model\"\napi_base = \"{}\"\napi_key = \"sk-upstream\"\n\n",
            mock.base_url()
        )
    };
    let toml = format!(
        "[codex_agent]\nmax_retries = 1\nretry_base_ms = 1\nmax_backoff_ms = 2\nmax_retry_after_s = 1\n\n\
         [router]\nconcurrency = 8\n\n[router.fallbacks]\nbroken = [\"alpha\"]\n\n\
         {}{}{}{}\
         [gateway]\ndata_dir = \"{}\"\nbatch_concurrency = 4\n\n\
         [[gateway.keys]]\nname = \"full\"\nkey = \"os.environ/GW_TEST_FULL_KEY\"\nmodels = [\"*\"]\n\n\
         [[gateway.keys]]\nname = \"narrow\"\nkey = \"env:GW_TEST_NARROW_KEY\"\nmodels = [\"alpha\"]\n",
        dep("alpha", &m.alpha),
        dep("beta", &m.beta),
        dep("broken", &m.broken),
        dep("limited", &m.limited),
        dir.join("data").display(),
    );
    let path = dir.join("scillm.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// `scillm serve` with `config` on `port` (and the variables `env`), once healthy.
fn start(config: &Path, port: u16, env: &[(&str, &str)]) -> Gateway {
    let child = Command::new(env!("CARGO_BIN_EXE_scillm"))
        .args(["serve", "--port", &port.to_string()])
        .envs(env.iter().copied())
        .env("SCILLM_CONFIG", config)
        .env("GW_TEST_FULL_KEY", FULL_KEY)
        .env("GW_TEST_NARROW_KEY", NARROW_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let gw = Gateway(child);
    let started = Instant::now();
    loop {
        let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out.starts_with("HTTP/1.1 200")
        });
        if up {
            return gw;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "scillm serve never became healthy"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

async fn python(python: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(python)
        .args(args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python {args:?} exited {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_and_litellm_against_scillm_serve() {
    let Some(py) = external("SCILLM_TEST_PYTHON", "a python with `openai` and `litellm`") else {
        return;
    };
    let m = mocks(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &m);
    let port = free_port();
    let _gw = start(&config, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let work = dir.path().display().to_string();
    let sdk = script("gateway_sdk.py").display().to_string();
    let out = python(&py, &[&sdk, &base, FULL_KEY, NARROW_KEY, &work]).await;
    for check in [
        "ok: chat with record and x-scillm headers",
        "ok: stream",
        "ok: fallback after 500s",
        "ok: models.list",
        "ok: unknown model is NotFoundError listing the names",
        "ok: wrong key is AuthenticationError",
        "ok: key not allowed the model is PermissionDeniedError",
        "ok: every target limited is RateLimitError with Retry-After",
        "ok: batch of 200 through the SDK",
        "ALL OK",
    ] {
        assert!(out.contains(check), "{check} missing:\n{out}");
    }
    assert!(
        m.broken.request_count() >= 1,
        "the broken deployment was never tried"
    );

    let lite = script("gateway_litellm.py").display().to_string();
    let out = python(&py, &[&lite, &base, FULL_KEY]).await;
    for check in [
        "ok: litellm.completion",
        "ok: litellm stream",
        "ok: litellm NotFoundError",
        "ALL OK",
    ] {
        assert!(out.contains(check), "{check} missing:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_survives_a_killed_gateway() {
    let Some(py) = external("SCILLM_TEST_PYTHON", "a python with `openai`") else {
        return;
    };
    let m = mocks(Duration::from_millis(25)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &m);
    let port = free_port();
    let mut gw = start(&config, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let restart = script("gateway_batch_restart.py").display().to_string();
    let work = dir.path().display().to_string();
    let out = python(&py, &[&restart, "start", &base, FULL_KEY, &work]).await;
    let batch_id = out
        .lines()
        .find_map(|l| l.strip_prefix("BATCH "))
        .unwrap_or_else(|| panic!("no batch id in:\n{out}"))
        .trim()
        .to_string();
    // SIGKILL: no graceful shutdown, lines in flight are lost mid-call.
    gw.0.kill().unwrap();
    gw.0.wait().unwrap();
    let calls_before = m.beta.request_count();
    assert!(calls_before < 200, "the batch finished before the kill");
    let _gw = start(&config, port, &[]);
    let out = python(&py, &[&restart, "finish", &base, FULL_KEY, &batch_id]).await;
    assert!(out.contains("ALL OK"), "{out}");
    // Lines journaled before the kill (at least 20) were not sent again.
    let after = m.beta.request_count() - calls_before;
    assert!(after <= 180, "{after} upstream calls after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_traceparent_continues_through_the_gateway_to_the_upstream_call() {
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT_ID: &str = "00f067aa0ba902b7";
    let receiver = OtlpReceiver::start().await.unwrap();
    let m = mocks(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &m);
    let port = free_port();
    let endpoint = receiver.endpoint();
    let _gw = start(
        &config,
        port,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .bearer_auth(FULL_KEY)
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .json(
            &serde_json::json!({"model": "alpha", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The client's span → the gateway's server span → router item → chat (client span).
    let chat = receiver
        .wait_for(Duration::from_secs(10), |s| s.name.starts_with("chat "))
        .await
        .unwrap_or_else(|| panic!("no chat span; got {:?}", receiver.spans()));
    assert_eq!(chat.kind, 3, "a client span");
    assert_eq!(chat.trace_id, TRACE_ID, "the client's trace continues");
    // The enclosing spans end after the chat span, so they may come in a later export.
    let item_exported = receiver
        .wait_for(Duration::from_secs(10), |s| s.name == "router item")
        .await;
    let server_exported = receiver
        .wait_for(Duration::from_secs(10), |s| s.kind == 2)
        .await;
    assert!(
        item_exported.is_some() && server_exported.is_some(),
        "{:?}",
        receiver.spans()
    );
    let spans = receiver.spans();
    let item = spans
        .iter()
        .find(|s| s.span_id == chat.parent_span_id)
        .unwrap_or_else(|| panic!("the chat span's parent was not exported: {spans:?}"));
    assert_eq!(item.name, "router item", "{spans:?}");
    let server = spans
        .iter()
        .find(|s| s.span_id == item.parent_span_id)
        .unwrap_or_else(|| panic!("the router item's parent was not exported: {spans:?}"));
    assert_eq!(server.kind, 2, "a server span: {server:?}");
    assert_eq!(server.parent_span_id, PARENT_ID, "{server:?}");
    assert_eq!(server.trace_id, TRACE_ID);

    // The upstream got the chat span's context.
    let sent = m.alpha.requests();
    assert_eq!(
        sent[0].header("traceparent"),
        Some(format!("00-{TRACE_ID}-{}-01", chat.span_id).as_str())
    );
}
