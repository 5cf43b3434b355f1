//! `scillm chat` against the embedded echo sidecar: plain, streamed, with an image part and
//! in schema-first mode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use serde_json::Value;

const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x64, 0xF8, 0xCF, 0x50,
    0x0F, 0x00, 0x03, 0x86, 0x01, 0x80, 0x5A, 0x34, 0x7D, 0x6B, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

fn chat(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_scillm"))
        .arg("chat")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("CODEX_SIDECAR_ECHO", "1")
        .current_dir(home.path())
        .output()
        .unwrap()
}

#[test]
fn plain_and_streamed_answers() {
    let out = chat(&["Say hello"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "shim ok");
    let out = chat(&["Say hello", "--stream"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "shim ok");
}

#[test]
fn an_image_goes_as_a_part_and_schema_first_reports_invalid_json() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("dot.png");
    std::fs::write(&img, PNG_1X1).unwrap();
    let out = chat(&["What is this?", "--image", img.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "shim ok");
    assert_eq!(v["scillm_router"]["error_type"], "ok");

    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, r#"{"type":"object","required":["name"]}"#).unwrap();
    let out = chat(&[
        "A person",
        "--json-schema",
        schema.to_str().unwrap(),
        "--json",
    ]);
    // The echo answer is not JSON: a non-zero exit, the content kept, the reason named.
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "shim ok");
    assert_eq!(v["scillm_router"]["error_type"], "invalid_json");
    assert_eq!(v["scillm_router"]["schema_mode"], "schema_first");
    assert_eq!(v["scillm_router"]["json_valid"], false);

    let bad = dir.path().join("notes.txt");
    std::fs::write(&bad, "x").unwrap();
    let out = chat(&["x", "--image", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported image type"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_chat_goes_to_the_provider_and_base_given() {
    let mock = scillm_testkit::chat_mock::ChatMock::builder()
        .content("from the mock upstream")
        .start()
        .await
        .unwrap();
    let base = mock.base_url();
    let out = tokio::task::spawn_blocking(move || {
        chat(&[
            "Say hello",
            "--stream",
            "--provider",
            "openai",
            "--api-base",
            &base,
            "--model",
            "mock-model",
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not the embedded echo sidecar's "shim ok": the stream came from the base given.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "from the mock upstream"
    );
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_flags_reach_the_upstream_and_bad_ones_are_refused() {
    use scillm_testkit::chat_mock::ChatMock;
    let mock = ChatMock::builder()
        .content("with headers")
        .start()
        .await
        .unwrap();
    let base = mock.base_url();
    for stream in [false, true] {
        let base = base.clone();
        let out = tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "hi",
                "--model",
                "m",
                "--provider",
                "openai",
                "--api-base",
                base.as_str(),
                "--header",
                "X-Trace: t-42",
                "-H",
                "X-Tenant:acme",
                "--header",
                "Connection: close",
            ];
            if stream {
                args.push("--stream");
            }
            chat(&args)
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "with headers");
    }
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.header("x-trace"), Some("t-42"));
        assert_eq!(r.header("x-tenant"), Some("acme"));
        assert_ne!(
            r.header("connection"),
            Some("close"),
            "hop-by-hop header forwarded"
        );
    }
    let out = tokio::task::spawn_blocking(|| chat(&["hi", "--header", "no colon here"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Name: value"));
}
