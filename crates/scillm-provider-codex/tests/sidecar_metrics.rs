//! `GET /metrics` of the sidecar after a known mix of requests: the text parses with the
//! official Python `prometheus_client` parser, and the foundation's request counts, the
//! Codex turns by backend and outcome (the `exec` backend with fault CLIs, the
//! `app-server` backend with the real Codex CLI, killed once mid-turn) and the app-server
//! restarts are exactly what was sent. One test in its own binary: the recorder is
//! process-wide.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use scillm_telemetry::names::{
    CODEX_APP_SERVER_RESTARTS_TOTAL, CODEX_TURNS_TOTAL, HTTP_REQUESTS_TOTAL, IN_FLIGHT,
};
use scillm_testkit::prometheus::{scrape, value};
use scillm_testkit::responses_mock::ResponsesMock;
use serde_json::json;
use sidecar_support::*;

#[tokio::test]
async fn a_known_mix_of_requests_scrapes_as_counted() {
    let Some(python) = external("SCILLM_TEST_PYTHON", "a python with `prometheus_client`") else {
        return;
    };
    let Some(codex) = real_codex() else {
        return;
    };
    let http = reqwest::Client::new();

    // exec backend: three completed turns (one streamed), then a 400 and a 404.
    let auth = auth_dir();
    let exec = start(cli_config("jsonl_cli.sh", auth.path(), &[]), &[]).await;
    let eb = exec.base().to_string();
    for stream in [false, false, true] {
        let (status, _, text) = post_chat(&eb, &chat_body(json!("hi"), stream)).await;
        assert_eq!(status, 200, "{text}");
    }
    let r = http
        .post(format!("{eb}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        http.get(format!("{eb}/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // exec backend: a turn Codex reports as failed (502).
    let failing = start(cli_config("failed_turn_cli.sh", auth.path(), &[]), &[]).await;
    let (status, _, text) =
        post_chat(failing.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 502, "{text}");

    // app-server backend: a turn, the child killed mid-turn (502), restarted, a turn.
    let mock = ResponsesMock::start("counted").await.unwrap();
    let home = codex_home(&mock.base_url());
    let app = start(
        real_config(&codex, "app-server", &[]),
        &[("CODEX_HOME", home.path())],
    )
    .await;
    let ab = app.base().to_string();
    let (status, _, text) = post_chat(&ab, &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    let (_, status, text) = chat_while_the_app_server_is_killed(&ab, &mock).await;
    assert_eq!(status, 502, "{text}");
    let (status, _, text) = post_chat(&ab, &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");

    let (text, s) = scrape(&python, &eb).await.unwrap();
    let v = |name: &str, labels: &[(&str, &str)]| value(&s, name, labels);
    let turns = |backend: &str, outcome: &str| {
        v(
            CODEX_TURNS_TOTAL,
            &[("backend", backend), ("outcome", outcome)],
        )
    };
    assert_eq!(turns("exec", "completed"), Some(3.0), "{text}");
    assert_eq!(turns("exec", "failed"), Some(1.0), "{text}");
    assert_eq!(turns("app-server", "completed"), Some(2.0), "{text}");
    assert_eq!(turns("app-server", "error"), Some(1.0), "{text}");
    assert_eq!(v(CODEX_APP_SERVER_RESTARTS_TOTAL, &[]), Some(1.0), "{text}");
    let requests = |class: &str| {
        v(
            HTTP_REQUESTS_TOTAL,
            &[("component", "sidecar"), ("status", class)],
        )
    };
    // 2xx: three exec chats, two app-server chats and one /healthz (the scrape itself is
    // counted once answered).
    assert_eq!(requests("2xx"), Some(6.0), "{text}");
    assert_eq!(requests("4xx"), Some(2.0), "{text}");
    assert_eq!(requests("5xx"), Some(2.0), "{text}");
    // Only the scrape is in flight while it renders.
    assert_eq!(
        v(IN_FLIGHT, &[("component", "sidecar")]),
        Some(1.0),
        "{text}"
    );
    for sc in [exec, failing, app] {
        sc.shutdown().await.unwrap();
    }
}
