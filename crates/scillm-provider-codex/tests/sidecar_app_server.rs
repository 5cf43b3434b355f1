//! The app-server backend with the real Codex CLI against a Responses mock that holds its
//! answers: a client that goes away interrupts the turn, `IDLE_TIMEOUT_S` is a 504 and the
//! next request succeeds, and a child killed mid-turn is a 502, then restarted.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use scillm_testkit::responses_mock::ResponsesMock;
use serde_json::json;
use sidecar_support::*;

#[tokio::test]
async fn a_client_that_goes_away_interrupts_the_turn() {
    let Some(codex) = real_codex() else {
        return;
    };
    let mock = ResponsesMock::start("late").await.unwrap();
    let home = codex_home(&mock.base_url());
    let sc = start(
        real_config(&codex, "app-server", &[]),
        &[("CODEX_HOME", home.path())],
    )
    .await;
    for stream in [false, true] {
        mock.hold();
        let base = sc.base().to_string();
        let before = mock.dropped();
        let request = tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/v1/chat/completions"))
                .json(&chat_body(json!("hi"), stream))
                .send()
                .await;
            if let Ok(mut r) = r {
                while let Ok(Some(_)) = r.chunk().await {}
            }
        });
        until("the model request", || mock.held() == 1).await;
        request.abort();
        let _ = request.await;
        until("the model stream to be dropped", || {
            mock.dropped() == before + 1
        })
        .await;
        mock.release();
    }
    // The app-server lives on and answers.
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        health(sc.base().as_str()).await["app_server"]["restarts"],
        0
    );
    sc.shutdown().await.unwrap();
}

#[tokio::test]
async fn idle_timeout_is_504_and_the_next_request_succeeds() {
    let Some(codex) = real_codex() else {
        return;
    };
    let mock = ResponsesMock::start("after the timeout").await.unwrap();
    let home = codex_home(&mock.base_url());
    let sc = start(
        real_config(
            &codex,
            "app-server",
            &[("sidecar.idle_timeout_s", json!(1.5))],
        ),
        &[("CODEX_HOME", home.path())],
    )
    .await;
    // Warm up so the timeout measures the turn, not the child's start.
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    mock.hold();
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 504, "{text}");
    assert!(text.contains("IDLE_TIMEOUT_S"), "{text}");
    until("the interrupted model stream to be dropped", || {
        mock.dropped() == 1
    })
    .await;
    mock.release();
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("after the timeout"), "{text}");
    sc.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_killed_app_server_fails_its_turn_and_is_restarted() {
    let Some(codex) = real_codex() else {
        return;
    };
    let mock = ResponsesMock::start("back again").await.unwrap();
    let home = codex_home(&mock.base_url());
    let sc = start(
        real_config(&codex, "app-server", &[]),
        &[("CODEX_HOME", home.path())],
    )
    .await;
    let base = sc.base().to_string();
    let (status, _, _) = post_chat(&base, &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200);
    let (pid, status, text) = chat_while_the_app_server_is_killed(&base, &mock).await;
    assert_eq!(status, 502, "{text}");
    assert_eq!(error_of(&text)["code"], "codex_app_server_exited", "{text}");
    let (status, _, text) = post_chat(&base, &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("back again"), "{text}");
    let h = health(&base).await;
    assert_eq!(h["app_server"]["restarts"], 1, "{h}");
    assert_ne!(h["app_server"]["pid"].as_i64().unwrap() as i32, pid, "{h}");
    sc.shutdown().await.unwrap();
}
