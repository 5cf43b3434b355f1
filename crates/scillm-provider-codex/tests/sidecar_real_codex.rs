//! The real Codex CLI (`@openai/codex`, path in `SCILLM_TEST_CODEX`) end to end through
//! both backends (`app-server` and `exec`): Codex talks only to a loopback mock of the
//! Responses API selected through a throwaway `CODEX_HOME`.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use scillm_testkit::responses_mock::{MockUsage, ResponsesMock};
use serde_json::{json, Value};
use sidecar_support::*;

const REPLY: &str = r#"{"city":"Paris"}"#;

fn strict_schema() -> Value {
    json!({"type": "object", "additionalProperties": false,
           "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

/// The `text.format` of the last request the mock got.
fn last_format(mock: &ResponsesMock) -> Value {
    mock.requests().last().unwrap()["text"]["format"].clone()
}

async fn backend_answers_like_openai(backend: &str) {
    let Some(codex) = real_codex() else {
        return;
    };
    let mock = ResponsesMock::start_with_usage(
        REPLY,
        MockUsage {
            input_tokens: 42,
            output_tokens: 7,
        },
    )
    .await
    .unwrap();
    let home = codex_home(&mock.base_url());
    let sc = start(
        real_config(&codex, backend, &[]),
        &[("CODEX_HOME", home.path())],
    )
    .await;
    let base = sc.base().to_string();
    let h = health(&base).await;
    assert_eq!(h["auth_present"], true, "{h}");
    assert_eq!(h["backend"], backend, "{h}");

    // Plain, with usage.
    let (status, _, text) = post_chat(&base, &chat_body(json!("Say hello."), false)).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], REPLY, "{v}");
    assert_eq!(v["usage"]["prompt_tokens"], 42, "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 7, "{v}");
    assert_eq!(v["usage"]["total_tokens"], 49, "{v}");
    assert_eq!(
        v["usage"]["prompt_tokens_details"]["cached_tokens"], 0,
        "{v}"
    );
    let sent = mock.requests().last().unwrap().to_string();
    assert!(
        sent.contains("Say hello."),
        "the prompt reached the model: {sent}"
    );

    // Streamed: the same content.
    let (status, _, text) = post_chat(&base, &chat_body(json!("Say hello again."), true)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(streamed_text(&text), REPLY, "{text}");
    assert_eq!(sse_data(&text).last().unwrap(), "[DONE]");

    // An image reaches the model as an input image.
    let parts = json!([{"type": "text", "text": "What is this?"},
                       {"type": "image_url", "image_url": {"url": PNG_DATA_URL}}]);
    let (status, _, text) = post_chat(&base, &chat_body(parts, false)).await;
    assert_eq!(status, 200, "{text}");
    let sent = mock.requests().last().unwrap().to_string();
    assert!(sent.contains("input_image"), "{sent}");
    assert!(sent.contains("data:image/png;base64,"), "{sent}");

    // Reasoning effort reaches the model.
    let mut body = chat_body(json!("Think hard."), false);
    body["reasoning_effort"] = json!("high");
    let (status, _, text) = post_chat(&base, &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        mock.requests().last().unwrap()["reasoning"]["effort"],
        "high",
        "{}",
        mock.requests().last().unwrap()
    );

    // A strict schema is sent natively: the model gets it as a strict json_schema format.
    let mut body = chat_body(json!("Which city?"), false);
    body["response_format"] = json!({"type": "json_schema",
        "json_schema": {"name": "city", "strict": true, "schema": strict_schema()}});
    let (status, headers, text) = post_chat(&base, &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-codex-schema-mode"], "native");
    let format = last_format(&mock);
    assert_eq!(format["type"], "json_schema", "{format}");
    assert_eq!(format["strict"], true, "{format}");
    assert_eq!(format["schema"], strict_schema(), "{format}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let answer: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(answer, json!({"city": "Paris"}));

    // A non-strict schema goes into the prompt instead.
    let mut loose = strict_schema();
    loose["required"] = json!([]);
    body["response_format"]["json_schema"]["schema"] = loose;
    let (status, headers, text) = post_chat(&base, &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-codex-schema-mode"], "prompt");
    assert!(
        last_format(&mock)["type"] != "json_schema",
        "{}",
        last_format(&mock)
    );
    let sent = mock.requests().last().unwrap().to_string();
    assert!(sent.contains("conforms to this JSON schema"), "{sent}");

    sc.shutdown().await.unwrap();
}

#[tokio::test]
async fn app_server_backend_answers_like_openai() {
    backend_answers_like_openai("app-server").await;
}

#[tokio::test]
async fn exec_backend_answers_like_openai() {
    backend_answers_like_openai("exec").await;
}

#[tokio::test]
async fn eight_concurrent_requests_share_one_app_server() {
    let Some(codex) = real_codex() else {
        return;
    };
    let mock = ResponsesMock::start(REPLY).await.unwrap();
    let home = codex_home(&mock.base_url());
    let sc = start(
        real_config(
            &codex,
            "app-server",
            &[("sidecar.max_concurrency", json!(8))],
        ),
        &[("CODEX_HOME", home.path())],
    )
    .await;
    let base = sc.base().to_string();
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                post_chat(&base, &chat_body(json!(format!("request {i}")), i % 2 == 0)).await
            })
        })
        .collect();
    for call in calls {
        let (status, _, text) = call.await.unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("Paris"), "{text}");
    }
    assert!(mock.request_count() >= 8);
    let h = health(&base).await;
    let pid = h["app_server"]["pid"].as_u64().unwrap() as u32;
    assert_eq!(
        sc.sidecar().child_pids(),
        vec![pid as i32],
        "one child: {h}"
    );
    assert_eq!(
        children_of(std::process::id(), "app-server"),
        vec![pid as i32],
        "one app-server process"
    );
    assert_eq!(h["app_server"]["restarts"], 0);
    assert_eq!(
        h["codex_version"],
        scillm_provider_codex::MIN_CODEX_CLI_VERSION,
        "{h}"
    );
    sc.shutdown().await.unwrap();
}
