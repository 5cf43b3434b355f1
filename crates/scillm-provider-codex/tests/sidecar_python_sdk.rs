//! The sidecar through the official OpenAI Python SDK (a python with `openai` installed,
//! path in `SCILLM_TEST_PYTHON`): models, string and vision content, streaming, and the
//! SDK's error classes for malformed JSON, an oversized body and missing credentials.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use serde_json::json;
use sidecar_support::*;

const MAX_BODY: usize = 64 * 1024;

#[tokio::test]
async fn openai_python_sdk_against_the_sidecar() {
    let Some(python) = external("SCILLM_TEST_PYTHON", "a python with the `openai` package") else {
        return;
    };
    let echo = start(
        config(&[
            ("sidecar.echo", json!(true)),
            ("sidecar.max_body_bytes", json!(MAX_BODY)),
        ]),
        &[],
    )
    .await;
    let missing = tempfile::tempdir().unwrap();
    let noauth = start(
        config(&[(
            "sidecar.auth_path",
            json!(missing.path().join("auth.json").display().to_string()),
        )]),
        &[],
    )
    .await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/openai_sdk_sidecar.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(echo.base().as_str())
        .arg(noauth.base().as_str())
        .arg(MAX_BODY.to_string())
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python exited {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("ALL OK"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for check in [
        "ok: models.list",
        "ok: vision content",
        "ok: stream=True assembles",
        "ok: malformed JSON is BadRequestError",
        "ok: oversized body is 413",
        "ok: missing credentials are AuthenticationError",
    ] {
        assert!(stdout.contains(check), "{check} missing:\n{stdout}");
    }
}
