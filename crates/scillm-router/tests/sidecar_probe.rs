//! The runbook's parallel probe against the codex sidecar in echo mode: a schema-first, a
//! vision and a plain request, each with content and `scillm_router`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::meta;
use scillm_core::config::ConfigLoader;
use scillm_router::{ParallelOptions, Router};
use serde_json::{json, Value};

fn probe_items(base: Option<&str>) -> Vec<Value> {
    let mut items = vec![
        json!({"model": "codex-agent/gpt-5", "messages": [{"role": "user", "content": "Return {\"ok\": true}"}],
               "response_mode": "schema_first",
               "json_schema": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}),
        json!({"model": "gpt-5", "custom_llm_provider": "codex-agent", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}),
        json!({"model": "codex-agent/gpt-5", "messages": [{"role": "user", "content": "ping"}]}),
    ];
    if let Some(base) = base {
        for it in &mut items {
            it["api_base"] = json!(base);
        }
    }
    items
}

fn check_probe(out: &[scillm_router::RouterResult]) {
    assert_eq!(out.len(), 3);
    let m = meta(&out[0]);
    assert_eq!(out[0].content(), "shim ok");
    assert_eq!(m["error_type"], "invalid_json");
    assert_eq!(m["json_valid"], false);
    assert_eq!(m["schema_mode"], "schema_first");
    assert_eq!(m["provider"], "codex-agent");
    for r in &out[1..] {
        assert!(r.is_ok(), "{:?}", r.meta);
        assert_eq!(r.content(), "shim ok");
        assert_eq!(meta(r)["provider"], "codex-agent");
    }
}

#[tokio::test]
async fn the_parallel_probe_against_the_echo_sidecar() {
    let sidecar_cfg = Arc::new(
        ConfigLoader::new()
            .no_file()
            .env_from([("CODEX_SIDECAR_ECHO", "1")])
            .set("sidecar.port", 0)
            .load()
            .unwrap(),
    );
    let sidecar = scillm_provider_codex::sidecar::spawn(sidecar_cfg)
        .await
        .unwrap();
    let base = sidecar.base().as_str().to_string();
    let config = ConfigLoader::new()
        .no_file()
        .env_from([
            ("SCILLM_RETRY_META", "1"),
            ("CODEX_AGENT_ENABLE_METRICS", "1"),
        ])
        .load()
        .unwrap();
    let router = Router::new(Arc::new(config)).unwrap();
    let out = router
        .parallel(probe_items(Some(&base)), ParallelOptions::new())
        .await;
    check_probe(&out);
    for r in &out {
        assert_eq!(
            meta(r)["retries"]["attempts"],
            0,
            "retry meta with SCILLM_RETRY_META=1"
        );
    }
    sidecar.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_probe_works_with_the_embedded_sidecar_when_no_base_is_set() {
    let config = ConfigLoader::new()
        .no_file()
        .env_from([("CODEX_SIDECAR_ECHO", "1")])
        .load()
        .unwrap();
    let router = Router::new(Arc::new(config)).unwrap();
    let out = router
        .parallel(probe_items(None), ParallelOptions::new())
        .await;
    check_probe(&out);
    assert!(meta(&out[2]).get("retries").is_none());
}
