//! The Codex CLI backend against fault CLIs (scripts under tests/fixtures used as
//! CODEX_CMD): JSONL parsing, input modes, images, retries, exit codes, streaming.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use serde_json::{json, Value};
use sidecar_support::*;

#[tokio::test]
async fn jsonl_answer_reasoning_usage_model_and_prompt() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config("jsonl_cli.sh", auth.path(), &[]),
        &[("STATE_DIR", state.path())],
    )
    .await;
    let body = json!({
        "model": "codex-agent/gpt-5-codex",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi there"},
            {"role": "user", "content": [{"type": "text", "text": "and this?"}]}
        ]
    });
    let (status, _, text) = post_chat(sc.base().as_str(), &body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let msg = &v["choices"][0]["message"];
    assert_eq!(
        msg["content"], "codex ok",
        "the last agent_message is the answer"
    );
    assert_eq!(msg["reasoning_content"], "**Thinking it over**");
    assert!(!msg["content"].as_str().unwrap().contains("Thinking"));
    assert_eq!(v["usage"]["prompt_tokens"], 120);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    assert_eq!(v["usage"]["total_tokens"], 127);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 20);
    assert_eq!(v["model"], "codex-agent/gpt-5-codex");

    let args: Vec<String> = read(&state.path().join("args"))
        .lines()
        .map(String::from)
        .collect();
    let i = args
        .iter()
        .position(|a| a == "--model")
        .expect("--model passed");
    assert_eq!(args[i + 1], "gpt-5-codex", "prefix stripped: {args:?}");
    assert_eq!(
        read(&state.path().join("stdin")),
        "be brief\n\nhello\n\nAssistant: hi there\n\nand this?"
    );
}

#[tokio::test]
async fn images_become_checked_temp_files_and_remote_urls_are_refused() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config("jsonl_cli.sh", auth.path(), &[]),
        &[("STATE_DIR", state.path())],
    )
    .await;
    let base = sc.base().to_string();
    let vision = chat_body(
        json!([{"type": "text", "text": "describe"},
               {"type": "image_url", "image_url": {"url": PNG_DATA_URL}}]),
        false,
    );
    let (status, _, text) = post_chat(&base, &vision).await;
    assert_eq!(status, 200, "{text}");
    let args = read(&state.path().join("args"));
    assert!(args.contains("--image"), "{args}");
    let copied = std::fs::read(state.path().join("image-0")).unwrap();
    assert!(
        copied.starts_with(b"\x89PNG"),
        "the CLI got the decoded PNG"
    );

    for (url, needle) in [
        (
            "https://example.com/cat.png",
            "does not fetch remote images",
        ),
        ("data:image/svg+xml;base64,PHN2Zz4=", "not supported"),
        ("data:image/png;base64,aGVsbG8=", "not a image/png file"),
    ] {
        let body = chat_body(
            json!([{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}]),
            false,
        );
        let (status, _, text) = post_chat(&base, &body).await;
        assert_eq!(status, 400, "{url}: {text}");
        assert!(
            error_of(&text)["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{text}"
        );
    }
    // An empty prompt is a 400 too.
    let (status, _, text) = post_chat(&base, &chat_body(json!("   "), false)).await;
    assert_eq!(status, 400, "{text}");
}

#[tokio::test]
async fn flag_and_json_input_modes() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let flag = cli_config(
        "jsonl_cli.sh",
        auth.path(),
        &[
            ("sidecar.input_mode", json!("flag")),
            ("sidecar.prompt_flag", json!("--prompt")),
        ],
    );
    let sc = start(flag, &[("STATE_DIR", state.path())]).await;
    let (status, _, text) = post_chat(
        sc.base().as_str(),
        &chat_body(json!("flagged prompt"), false),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let args: Vec<String> = read(&state.path().join("args"))
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(&args[args.len() - 2..], ["--prompt", "flagged prompt"]);
    assert_eq!(read(&state.path().join("stdin")), "");

    let json_mode = cli_config(
        "jsonl_cli.sh",
        auth.path(),
        &[("sidecar.input_mode", json!("json"))],
    );
    let sc = start(json_mode, &[("STATE_DIR", state.path())]).await;
    let (status, _, text) =
        post_chat(sc.base().as_str(), &chat_body(json!("json prompt"), false)).await;
    assert_eq!(status, 200, "{text}");
    let stdin: Value = serde_json::from_str(&read(&state.path().join("stdin"))).unwrap();
    assert_eq!(stdin["prompt"], "json prompt");
    assert_eq!(stdin["model"], "gpt-5");
}

#[tokio::test]
async fn plain_text_output_is_returned_trimmed() {
    let auth = auth_dir();
    let sc = start(cli_config("plain_cli.sh", auth.path(), &[]), &[]).await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "a plain answer");
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), true)).await;
    assert_eq!(status, 200);
    assert_eq!(streamed_text(&text), "a plain answer");
}

#[tokio::test]
async fn exit_75_is_retried_then_succeeds() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config(
            "flaky_cli.sh",
            auth.path(),
            &[("sidecar.retries", json!(1))],
        ),
        &[("STATE_DIR", state.path())],
    )
    .await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["choices"][0]["message"]["content"],
        "recovered"
    );
    assert_eq!(read(&state.path().join("runs")).trim(), "2");

    // With no retries left the same failure is a 502 carrying the stderr tail.
    let state2 = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config(
            "flaky_cli.sh",
            auth.path(),
            &[("sidecar.retries", json!(0))],
        ),
        &[("STATE_DIR", state2.path())],
    )
    .await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 502, "{text}");
    let msg = error_of(&text)["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("75") && msg.contains("temporary failure"),
        "{msg}"
    );
}

#[tokio::test]
async fn other_exit_codes_are_502_with_the_stderr_tail() {
    let auth = auth_dir();
    let sc = start(cli_config("fail_cli.sh", auth.path(), &[]), &[]).await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 502, "{text}");
    let e = error_of(&text);
    assert_eq!(e["type"], "upstream_error");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("exited with code 2"), "{msg}");
    assert!(
        msg.contains("fatal: the model refused the request"),
        "{msg}"
    );
    assert!(!msg.contains("noise line 1\n"), "only the tail is kept");

    let sc = start(cli_config("failed_turn_cli.sh", auth.path(), &[]), &[]).await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 502, "{text}");
    assert!(
        text.contains("unexpected status 401 Unauthorized"),
        "{text}"
    );
    // A turn that fails before any content: the streamed request gets the same error.
    let (status, _, streamed) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), true)).await;
    assert_eq!(status, 502, "{streamed}");
    assert_eq!(error_of(&streamed), error_of(&text));
}

#[tokio::test]
async fn missing_cli_is_a_500_naming_codex_cmd() {
    let auth = auth_dir();
    let cfg = config(&[
        (
            "sidecar.cmd",
            json!("definitely-not-installed-codex exec --json"),
        ),
        (
            "sidecar.auth_path",
            json!(auth.path().join("auth.json").display().to_string()),
        ),
    ]);
    let sc = start(cfg, &[]).await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 500, "{text}");
    let msg = error_of(&text)["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("CODEX_CMD") && msg.contains("definitely-not-installed-codex"),
        "{msg}"
    );
}

#[tokio::test]
async fn streaming_sends_items_as_the_cli_prints_them() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config(
            "stream_cli.sh",
            auth.path(),
            &[("sidecar.idle_timeout_s", json!(120.0))],
        ),
        &[("STATE_DIR", state.path())],
    )
    .await;
    let resp = reqwest::Client::new()
        .post(sc.base().chat_completions_url())
        .json(&chat_body(json!("stream it"), true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut resp = resp;
    // The reasoning chunk arrives while the CLI still waits for `go`.
    let mut seen = String::new();
    while !seen.contains("step one") {
        let chunk = resp
            .chunk()
            .await
            .unwrap()
            .expect("stream ended before the reasoning chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("streamed answer"));
    std::fs::write(state.path().join("go"), "").unwrap();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = sse_data(&seen);
    assert_eq!(data.last().unwrap(), "[DONE]");
    assert_eq!(streamed_text(&seen), "streamed answer");
    let chunks: Vec<Value> = data
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["reasoning_content"],
        "step one"
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["total_tokens"], 5);
}
