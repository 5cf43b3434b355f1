//! The embedded sidecar default: started once per process on a loopback port, in echo
//! mode when Codex credentials or the CLI are missing, and reached by the codex-agent
//! provider when no base is configured.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use scillm_provider_codex::embedded::ensure_embedded_sidecar;
use serde_json::{json, Value};
use sidecar_support::*;

/// A config with no base and a credentials path that does not exist: echo is automatic.
fn no_base_config(missing: &std::path::Path) -> scillm_core::Config {
    config(&[(
        "sidecar.auth_path",
        json!(missing.join("auth.json").display().to_string()),
    )])
}

#[tokio::test]
async fn embedded_sidecar_starts_once_and_echoes() {
    let missing = tempfile::tempdir().unwrap();
    let cfg = no_base_config(missing.path());
    assert!(!cfg.sidecar.echo && cfg.codex_agent.api_base.is_none());
    let base = ensure_embedded_sidecar(&cfg).await.unwrap();
    assert!(base.as_str().starts_with("http://127.0.0.1:"), "{base}");
    assert_ne!(base.as_str(), "http://127.0.0.1:8077");
    let again = ensure_embedded_sidecar(&cfg).await.unwrap();
    assert_eq!(base, again, "the sidecar is reused");

    let h: Value = reqwest::get(base.join("healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["ok"], true);
    assert_eq!(h["echo"], true, "no credentials: echo mode");
    let (status, _, body) = post_chat(base.as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["message"]["content"],
        "shim ok"
    );
}

/// The embedded sidecar outlives the runtime that started it.
#[test]
fn embedded_sidecar_survives_its_first_runtime() {
    let missing = tempfile::tempdir().unwrap();
    let cfg = no_base_config(missing.path());
    let first = tokio::runtime::Runtime::new().unwrap();
    let base = first.block_on(ensure_embedded_sidecar(&cfg)).unwrap();
    drop(first);
    let second = tokio::runtime::Runtime::new().unwrap();
    let (status, _, _) = second.block_on(post_chat(base.as_str(), &chat_body(json!("hi"), false)));
    assert_eq!(status, 200);
}

#[cfg(feature = "codex-agent")]
#[tokio::test]
async fn codex_agent_provider_without_a_base_gets_shim_ok() {
    use std::sync::Arc;

    use futures::StreamExt;
    use scillm_core::wire::{ChatRequest, Message};
    use scillm_core::{CallContext, ProviderSettings};

    let missing = tempfile::tempdir().unwrap();
    let settings = ProviderSettings {
        config: Arc::new(no_base_config(missing.path())),
        ..ProviderSettings::default()
    };
    let provider = scillm_core::registry::build("codex-agent", &settings).unwrap();
    let req = ChatRequest::new("codex-agent/gpt-5", vec![Message::user("hi")]);
    let resp = provider
        .chat(req.clone(), &CallContext::new())
        .await
        .unwrap();
    assert_eq!(resp.first_text(), "shim ok");

    let mut stream = provider
        .chat_stream(req, &CallContext::new())
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        text.push_str(
            chunk
                .choices
                .first()
                .map(|c| c.delta.text_str())
                .unwrap_or(""),
        );
    }
    assert_eq!(text, "shim ok");
}
