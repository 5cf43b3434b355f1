//! The real Codex CLI (`@openai/codex`, path in `SCILLM_TEST_CODEX`) end to end: the
//! sidecar runs `codex exec --json`, which talks only to a loopback mock of the Responses
//! API selected through a throwaway `CODEX_HOME`.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use std::path::Path;

use scillm_testkit::responses_mock::{MockUsage, ResponsesMock};
use serde_json::{json, Value};
use sidecar_support::*;

/// A `CODEX_HOME` whose config selects the mock provider, with a dummy `auth.json`.
fn codex_home(mock_base: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let config = format!(
        r#"model = "gpt-5"
model_provider = "mock"
approval_policy = "never"

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

fn real_config(codex: &Path) -> scillm_core::Config {
    let cfg = config(&[
        (
            "sidecar.cmd",
            json!(format!(
                "{} exec --json --skip-git-repo-check --sandbox read-only",
                codex.display()
            )),
        ),
        ("sidecar.abs_timeout_s", json!(120.0)),
        ("sidecar.idle_timeout_s", json!(60.0)),
        ("sidecar.retries", json!(0)),
        // CODEX_AUTH_PATH is not set: the preflight finds $CODEX_HOME/auth.json.
        ("sidecar.echo", json!(false)),
    ]);
    assert!(cfg.sidecar.auth_path.is_none());
    cfg
}

#[tokio::test]
async fn real_codex_cli_answers_through_the_sidecar() {
    let Some(codex) = external(
        "SCILLM_TEST_CODEX",
        "the codex binary of @openai/codex@0.169.0",
    ) else {
        return;
    };
    let mock = ResponsesMock::start_with_usage(
        "Hello from the mock model.",
        MockUsage {
            input_tokens: 42,
            output_tokens: 7,
        },
    )
    .await
    .unwrap();
    let home = codex_home(&mock.base_url());
    let sc = start(real_config(&codex), &[("CODEX_HOME", home.path())]).await;
    let base = sc.base().to_string();

    let h: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["auth_present"], true, "{h}");

    let (status, _, text) = post_chat(&base, &chat_body(json!("Say hello."), false)).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"], "Hello from the mock model.",
        "{v}"
    );
    assert_eq!(v["usage"]["prompt_tokens"], 42, "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 7, "{v}");
    assert_eq!(v["usage"]["total_tokens"], 49, "{v}");
    assert!(mock.request_count() >= 1);
    let sent = mock.requests()[0].to_string();
    assert!(
        sent.contains("Say hello."),
        "the prompt reached the model: {sent}"
    );

    let (status, _, text) = post_chat(&base, &chat_body(json!("Say hello again."), true)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(streamed_text(&text), "Hello from the mock model.", "{text}");
    assert_eq!(sse_data(&text).last().unwrap(), "[DONE]");
    sc.shutdown().await.unwrap();
}
