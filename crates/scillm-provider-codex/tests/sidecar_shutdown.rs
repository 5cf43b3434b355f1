//! Shutdown: in-flight requests finish, CLI children are killed, SIGTERM stops `serve`.
//! (Its own test binary: the SIGTERM test installs a process-wide handler.)
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sidecar_support::*;

fn gate_config(auth: &Path) -> scillm_core::Config {
    cli_config(
        "gate_cli.sh",
        auth,
        &[("sidecar.idle_timeout_s", json!(120.0))],
    )
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(gate_config(auth.path()), &[("STATE_DIR", state.path())]).await;
    let base = sc.base().to_string();
    let in_flight =
        tokio::spawn(async move { post_chat(&base, &chat_body(json!("hi"), false)).await });
    wait_for_file(&state.path().join("started")).await;

    let stopping = tokio::spawn(sc.shutdown());
    std::fs::write(state.path().join("release"), "").unwrap();
    let (status, _, text) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("released"));
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn killing_children_ends_cli_runs_with_503() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(gate_config(auth.path()), &[("STATE_DIR", state.path())]).await;
    let base = sc.base().to_string();
    let in_flight =
        tokio::spawn(async move { post_chat(&base, &chat_body(json!("hi"), false)).await });
    wait_for_file(&state.path().join("started")).await;
    sc.sidecar().kill_children();
    let (status, _, text) = in_flight.await.unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(error_of(&text)["message"]
        .as_str()
        .unwrap()
        .contains("shutting down"));
}

#[tokio::test]
async fn sigterm_stops_serve() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(&[("sidecar.echo", json!(true)), ("sidecar.port", json!(port))]);
    let server = tokio::spawn(scillm_provider_codex::sidecar::serve(
        Arc::new(cfg),
        std::future::pending(),
    ));
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut health: Option<Value> = None;
    for _ in 0..400 {
        if let Ok(r) = reqwest::get(&url).await {
            health = r.json().await.ok();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(health.unwrap()["ok"], true);
    nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_client_that_goes_away_kills_the_run() {
    let auth = auth_dir();
    for stream in [false, true] {
        let state = tempfile::tempdir().unwrap();
        let sc = start(
            cli_config(
                "hang_cli.sh",
                auth.path(),
                &[("sidecar.idle_timeout_s", json!(300.0))],
            ),
            &[("STATE_DIR", state.path())],
        )
        .await;
        let base = sc.base().to_string();
        let request = tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/v1/chat/completions"))
                .json(&chat_body(json!("hi"), stream))
                .send()
                .await;
            // A streamed answer has started: hold it open until the task is aborted.
            if let Ok(mut r) = r {
                while let Ok(Some(_)) = r.chunk().await {}
            }
        });
        wait_for_file(&state.path().join("child")).await;
        let pgid: i32 = read(&state.path().join("pgid")).trim().parse().unwrap();
        assert!(!live_members(pgid).is_empty(), "the CLI runs");
        request.abort();
        let _ = request.await;
        assert_group_gone(pgid).await;
        let h: Value = reqwest::get(sc.base().join("healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(h["ok"], true);
    }
}
