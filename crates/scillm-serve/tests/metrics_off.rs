//! `SCILLM_METRICS=off` (SPEC §16's metrics turned off by the operator): no recorder is
//! installed, recording is a no-op, and `/metrics` answers with no series.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[tokio::test]
async fn metrics_off_records_nothing_and_metrics_shows_no_series() {
    // This test runs in its own process (nextest): the variable is read once, here first.
    std::env::set_var("SCILLM_METRICS", "off");
    assert!(!scillm_telemetry::prometheus::enabled());
    let err = scillm_telemetry::prometheus::handle().unwrap_err();
    assert!(err.contains("SCILLM_METRICS"), "{err}");
    scillm_telemetry::record::mini_agent_run("done");
    assert!(!scillm_telemetry::prometheus::installed());

    let app: axum::Router = axum::Router::new().route(
        "/metrics",
        scillm_serve::metrics_route(scillm_serve::recorder()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains("scillm_"),
        "no series with metrics off: {text}"
    );
}
