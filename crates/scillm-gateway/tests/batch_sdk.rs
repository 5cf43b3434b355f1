//! The Batch API through the official OpenAI Python SDK (`SCILLM_TEST_PYTHON`, a venv
//! with `openai`): files list/retrieve/delete, a running batch's input refused deletion
//! (409), cancel with every `custom_id` once, `batches.list` pagination, an unsupported
//! `completion_window`, a batch that expires, and batch lines paced by their key's rpm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use scillm_core::Config;
use scillm_gateway::{spawn_gateway, Gateway, RunningGateway};
use scillm_testkit::chat_mock::ChatMock;
use scillm_testkit::external;
use serde_json::json;
use support::*;

const FULL_KEY: &str = "sk-batch-full";
const PACED_KEY: &str = "sk-batch-paced";

struct Mocks {
    up: Upstreams,
    slow: ChatMock,
    paced: ChatMock,
}

async fn mocks() -> Mocks {
    Mocks {
        up: upstreams().await,
        slow: ChatMock::builder()
            .content("slow")
            .latency(Duration::from_millis(150))
            .record(false)
            .start()
            .await
            .unwrap(),
        paced: ChatMock::builder().content("paced").start().await.unwrap(),
    }
}

/// `alpha`, `slow` and `paced` deployments, keys `full` and `paced` (rpm 60, tpm 1000), and
/// `extra` on top.
fn gateway_config(m: &Mocks, dir: &Path, extra: &[(&str, serde_json::Value)]) -> Arc<Config> {
    let dep = |name: &str, mock: &ChatMock| json!({"model_name": name, "provider": "openai", "api_base": mock.base_url(), "api_key": "k"});
    let mut all = vec![
        (
            "model_list",
            json!([
                dep("alpha", &m.up.alpha),
                dep("slow", &m.slow),
                dep("paced", &m.paced)
            ]),
        ),
        ("gateway.batch_concurrency", json!(2)),
        (
            "gateway.keys",
            json!([
                {"name": "full", "key": "env:BATCH_FULL", "models": ["*"]},
                {"name": "paced", "key": "env:BATCH_PACED", "models": ["paced"], "rpm": 60, "tpm": 1000}
            ]),
        ),
    ];
    all.extend(extra.iter().cloned());
    config(&m.up, dir, &all)
}

async fn start(config: Arc<Config>) -> RunningGateway {
    let env = |name: &str| match name {
        "BATCH_FULL" => Some(FULL_KEY.to_string()),
        "BATCH_PACED" => Some(PACED_KEY.to_string()),
        _ => None,
    };
    let gw = Gateway::with_env(config, &env).await.unwrap();
    spawn_gateway(gw).await.unwrap()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/batch_sdk.py")
}

async fn sdk(python: &Path, mode: &str, base: &str, key: &str, work: &Path) -> String {
    let out = tokio::process::Command::new(python)
        .arg(script())
        .args([mode, base, key])
        .arg(work)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "batch_sdk.py {mode} exited {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ALL OK"), "{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_lists_window_and_cancel_through_the_sdk() {
    let Some(py) = external("SCILLM_TEST_PYTHON", "a python with `openai`") else {
        return;
    };
    let m = mocks().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start(gateway_config(&m, &dir.path().join("data"), &[])).await;
    let base = gw.base_url();
    let out = sdk(&py, "files", &base, FULL_KEY, dir.path()).await;
    for check in [
        "ok: files list, retrieve and delete",
        "ok: deleting a running batch's input is a ConflictError",
        "ok: a cancelled batch answers every custom_id once",
    ] {
        assert!(out.contains(check), "{check} missing:\n{out}");
    }
    let out = sdk(&py, "window", &base, FULL_KEY, dir.path()).await;
    assert!(out.contains("ok: an unsupported completion_window is a BadRequestError"));
    let out = sdk(&py, "list", &base, FULL_KEY, dir.path()).await;
    assert!(out.contains("ok: batches.list pages newest first"));
    gw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_past_its_completion_window_expires_through_the_sdk() {
    let Some(py) = external("SCILLM_TEST_PYTHON", "a python with `openai`") else {
        return;
    };
    let m = mocks().await;
    let dir = tempfile::tempdir().unwrap();
    // 20 lines of 150 ms two at a time need 1.5 s; the window is 1 s.
    let config = gateway_config(
        &m,
        &dir.path().join("data"),
        &[("gateway.batch_completion_window_s", json!(1))],
    );
    let gw = start(config).await;
    let out = sdk(&py, "expire", &gw.base_url(), FULL_KEY, dir.path()).await;
    assert!(out.contains("ok: expired with"), "{out}");
    gw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_lines_wait_for_their_keys_rpm_through_the_sdk() {
    let Some(py) = external("SCILLM_TEST_PYTHON", "a python with `openai`") else {
        return;
    };
    let m = mocks().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start(gateway_config(&m, &dir.path().join("data"), &[])).await;
    let out = sdk(&py, "paced", &gw.base_url(), PACED_KEY, dir.path()).await;
    assert!(out.contains("ok: a batch on an rpm-limited key waits and completes"));
    // rpm 60 admits one line a second (burst 1): four lines span at least three seconds
    // at the upstream, where without the key's limit they would arrive together; the
    // fifth line (over the whole tpm) never reaches it.
    let requests = m.paced.requests();
    assert_eq!(requests.len(), 4);
    let span = requests[3].at.duration_since(requests[0].at);
    assert!(span >= Duration::from_millis(2_900), "{span:?}");
    gw.shutdown().await.unwrap();
}
