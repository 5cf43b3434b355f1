//! `x-request-id` on the sidecar (SPEC §16): the client's id comes back as sent, a request
//! without one gets a generated id, and the id is in the JSON log line of that request
//! (the lines `SCILLM_LOG_FORMAT=json` writes, captured in-process with the same layer).
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sidecar_support::*;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Log lines written into a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
            .collect()
    }
}

/// The `request answered` log line of the request with id `id`.
fn answered_line(lines: &[Value], id: &str) -> Option<Value> {
    lines
        .iter()
        .find(|l| l["fields"]["message"] == "request answered" && l["span"]["request_id"] == id)
        .cloned()
}

// A current-thread runtime: the server's tasks run on this thread, under its subscriber.
#[tokio::test(flavor = "current_thread")]
async fn request_ids_are_echoed_or_generated_and_logged() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry().with(
        scillm_telemetry::logging::json_layer(move || writer.clone())
            .with_filter(EnvFilter::new(scillm_telemetry::logging::DEFAULT_FILTER)),
    );
    let _default = tracing::subscriber::set_default(subscriber);

    let sc = start(echo_config(), &[]).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", sc.base());
    let r = http
        .post(&url)
        .header("x-request-id", "abc")
        .json(&chat_body(json!("hi"), false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "abc");
    let r = http
        .post(&url)
        .json(&chat_body(json!("hi"), false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    assert_ne!(generated, "abc");
    // Errors carry it too.
    let r = http
        .get(format!("{}/nope", sc.base()))
        .header("x-request-id", "err-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "err-1");
    sc.shutdown().await.unwrap();

    let lines = capture.lines();
    let line = answered_line(&lines, "abc").unwrap_or_else(|| panic!("no line for abc: {lines:?}"));
    assert_eq!(line["fields"]["status"], 200, "{line}");
    assert_eq!(line["span"]["path"], "/v1/chat/completions", "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(answered_line(&lines, &generated).is_some(), "{lines:?}");
    let err = answered_line(&lines, "err-1").unwrap();
    assert_eq!(err["fields"]["status"], 404, "{err}");
}
