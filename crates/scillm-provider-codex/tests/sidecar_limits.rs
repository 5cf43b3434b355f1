//! Limits against fault CLIs: idle and absolute timeouts with the process group killed,
//! MAX_CONCURRENCY, and queue overflow (503 + Retry-After).
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use serde_json::{json, Value};
use sidecar_support::*;

#[tokio::test]
async fn a_hang_is_a_504_after_the_idle_timeout_and_its_group_is_gone() {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;

    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config(
            "hang_cli.sh",
            auth.path(),
            &[
                ("sidecar.idle_timeout_s", json!(1.0)),
                ("sidecar.abs_timeout_s", json!(120.0)),
            ],
        ),
        &[("STATE_DIR", state.path())],
    )
    .await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 504, "{text}");
    let e = error_of(&text);
    assert_eq!(e["type"], "timeout_error");
    assert!(e["message"].as_str().unwrap().contains("IDLE_TIMEOUT_S"));

    let pgid: i32 = read(&state.path().join("pgid")).trim().parse().unwrap();
    let child: i32 = read(&state.path().join("child")).trim().parse().unwrap();
    // The leader was reaped before the answer; the killed `sleep` may still wait for init.
    assert_eq!(
        kill(Pid::from_raw(pgid), None),
        Err(Errno::ESRCH),
        "leader {pgid} reaped"
    );
    assert!(child > 0);
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn the_absolute_timeout_is_a_504_too() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config(
            "gate_cli.sh",
            auth.path(),
            &[
                ("sidecar.idle_timeout_s", json!(60.0)),
                ("sidecar.abs_timeout_s", json!(1.0)),
            ],
        ),
        &[("STATE_DIR", state.path())],
    )
    .await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 504, "{text}");
    assert!(error_of(&text)["message"]
        .as_str()
        .unwrap()
        .contains("ABS_TIMEOUT_S"));
    // Streamed, nothing was sent before the timeout: the same 504.
    let (status, _, streamed) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), true)).await;
    assert_eq!(status, 504, "{streamed}");
    assert_eq!(error_of(&streamed)["type"], "timeout_error");
}

#[tokio::test]
async fn ten_parallel_requests_never_run_more_than_two_clis() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config(
            "counting_cli.sh",
            auth.path(),
            &[("sidecar.max_concurrency", json!(2))],
        ),
        &[("STATE_DIR", state.path())],
    )
    .await;
    let base = sc.base().to_string();
    let calls = (0..10).map(|_| {
        let base = base.clone();
        async move { post_chat(&base, &chat_body(json!("count me"), false)).await }
    });
    let results = futures::future::join_all(calls).await;
    for (status, _, text) in &results {
        assert_eq!(*status, 200, "{text}");
    }
    assert_eq!(read(&state.path().join("runs")).lines().count(), 10);
    let max: u32 = read(&state.path().join("max")).trim().parse().unwrap();
    assert!((1..=2).contains(&max), "{max} CLIs ran at once");
    assert_eq!(read(&state.path().join("cur")).trim(), "0");
}

#[tokio::test]
async fn queue_overflow_is_503_with_retry_after() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = start(
        cli_config(
            "gate_cli.sh",
            auth.path(),
            &[
                ("sidecar.max_concurrency", json!(1)),
                ("sidecar.queue_size", json!(0)),
                ("sidecar.idle_timeout_s", json!(120.0)),
            ],
        ),
        &[("STATE_DIR", state.path())],
    )
    .await;
    let base = sc.base().to_string();
    let first = tokio::spawn({
        let base = base.clone();
        async move { post_chat(&base, &chat_body(json!("first"), false)).await }
    });
    wait_for_file(&state.path().join("started")).await;

    let (status, headers, text) = post_chat(&base, &chat_body(json!("second"), false)).await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(headers["retry-after"].to_str().unwrap(), "2");
    assert_eq!(error_of(&text)["type"], "rate_limit_error");
    let h: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["in_flight"], 1);

    std::fs::write(state.path().join("release"), "").unwrap();
    let (status, _, text) = first.await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("released"));
}
