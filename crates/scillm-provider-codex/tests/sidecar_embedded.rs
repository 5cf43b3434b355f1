//! The embedded sidecar default: started once per distinct sidecar configuration on a
//! loopback port, with a random bearer key per instance, in echo mode when Codex
//! credentials or the CLI are missing, and reached by the codex-agent provider when no
//! base is configured.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use scillm_core::secrecy::ExposeSecret;
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

/// POST a chat with `key` as the bearer key.
async fn post_keyed(base: &str, key: Option<&str>) -> (u16, String) {
    let mut r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(&chat_body(json!("hi"), false));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn embedded_sidecar_starts_once_per_config_and_wants_its_key() {
    let missing = tempfile::tempdir().unwrap();
    let cfg = no_base_config(missing.path());
    assert!(!cfg.sidecar.echo && cfg.codex_agent.api_base.is_none());
    let e = ensure_embedded_sidecar(&cfg).await.unwrap();
    let base = e.base.clone();
    assert!(base.as_str().starts_with("http://127.0.0.1:"), "{base}");
    assert_ne!(base.as_str(), "http://127.0.0.1:8077");
    let again = ensure_embedded_sidecar(&cfg).await.unwrap();
    assert_eq!(
        base, again.base,
        "the sidecar is reused for the same config"
    );
    let key = e.api_key.expose_secret().to_string();
    assert_eq!(key.len(), 64, "256 random bits as hex");

    let h: Value = reqwest::get(base.join("healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["ok"], true);
    assert_eq!(h["echo"], true, "no credentials: echo mode");
    let (status, body) = post_keyed(base.as_str(), Some(&key)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["message"]["content"],
        "shim ok"
    );
    assert_eq!(post_keyed(base.as_str(), None).await.0, 401);
    assert_eq!(post_keyed(base.as_str(), Some("guess")).await.0, 401);

    // Another sidecar configuration gets its own instance and its own key.
    let mut other = cfg.clone();
    other.sidecar.echo_reply = "other".into();
    let o = ensure_embedded_sidecar(&other).await.unwrap();
    assert_ne!(o.base, base);
    assert_ne!(o.api_key.expose_secret(), key.as_str());
    let (status, body) = post_keyed(o.base.as_str(), Some(o.api_key.expose_secret())).await;
    assert_eq!(status, 200);
    assert!(body.contains("other"), "{body}");
    assert_eq!(post_keyed(o.base.as_str(), Some(&key)).await.0, 401);
}

/// The embedded sidecar outlives the runtime that started it.
#[test]
fn embedded_sidecar_survives_its_first_runtime() {
    let missing = tempfile::tempdir().unwrap();
    let mut cfg = no_base_config(missing.path());
    cfg.sidecar.echo_reply = "survivor".into();
    let first = tokio::runtime::Runtime::new().unwrap();
    let e = first.block_on(ensure_embedded_sidecar(&cfg)).unwrap();
    drop(first);
    let second = tokio::runtime::Runtime::new().unwrap();
    let (status, _) = second.block_on(post_keyed(e.base.as_str(), Some(e.api_key.expose_secret())));
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
