//! `SCILLM_DEBUG_PARALLEL=1` logs each failed parallel item with index, model, provider and
//! error; nothing is logged without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::item;
use scillm_core::config::ConfigLoader;
use scillm_router::{ParallelOptions, Router};
use serde_json::json;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn run_logged(env: &[(&str, &str)]) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let config = ConfigLoader::new()
        .no_file()
        .env_from(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .set(
            "model_list",
            json!([{"model_name": "s", "provider": "test-scripted"}]),
        )
        .load()
        .unwrap();
    let router = Router::new(Arc::new(config)).unwrap();
    let items = vec![
        item("s", "fine"),
        item("s", "fail:503"),
        item("s", "also fine"),
    ];
    // The default test runtime has one thread, so the spawned items log to this subscriber.
    let out = router.parallel(items, ParallelOptions::new()).await;
    assert_eq!(out.len(), 3);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text
}

#[tokio::test]
async fn failed_items_are_logged_with_debug_parallel() {
    let log = run_logged(&[("SCILLM_DEBUG_PARALLEL", "1")]).await;
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("parallel item failed"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    for part in [
        "index=1",
        "model=\"s\"",
        "provider=\"test-scripted\"",
        "error_kind=\"server\"",
        "status=503",
    ] {
        assert!(lines[0].contains(part), "{part} missing in {}", lines[0]);
    }
}

#[tokio::test]
async fn nothing_is_logged_without_debug_parallel() {
    let log = run_logged(&[]).await;
    assert!(!log.contains("parallel item failed"), "{log}");
}
