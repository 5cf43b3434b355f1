//! The per-request span of [`ServerLayers`] continues the caller's trace (SPEC §16): with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, a request sent with a W3C `traceparent` is exported
//! as a server span `GET /hi` in that trace, child of the caller's span, with the request
//! id as an attribute.
#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::routing::get;
use scillm_serve::{serve, ServeOptions, ServerLayers};
use scillm_telemetry::logging;
use tokio::net::TcpListener;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

#[test]
fn the_request_span_continues_the_inbound_trace() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let receiver = rt
        .block_on(scillm_testkit::otlp::OtlpReceiver::start())
        .unwrap();
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint());
    let guard = logging::init(logging::LogFormat::Text).unwrap();
    assert!(guard.exporting());

    rt.block_on(async {
        let app = ServerLayers::new("test")
            .apply(axum::Router::new().route("/hi", get(|| async { "hi" })));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, ServeOptions::default(), async move {
            let _ = stopped.await;
        }));
        let r = reqwest::Client::new()
            .get(format!("http://{addr}/hi"))
            .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
            .header("x-request-id", "trace-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "hi");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    });

    let span = rt
        .block_on(receiver.wait_for(Duration::from_secs(20), |s| s.name == "GET /hi"))
        .unwrap_or_else(|| panic!("no request span; got {:?}", receiver.spans()));
    drop(guard);
    assert_eq!(span.trace_id, TRACE_ID);
    assert_eq!(span.parent_span_id, CALLER_SPAN);
    assert_eq!(span.kind, 2, "server span");
    assert_eq!(
        span.attributes.get("request_id").cloned(),
        Some("trace-1".into())
    );
}
