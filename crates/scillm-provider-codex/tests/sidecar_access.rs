//! The sidecar's access rules: the inbound key when one is set, the 401 with guidance when
//! credentials are missing, and the bind rule for non-loopback hosts (SPEC §5, §17).
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use std::sync::Arc;

use scillm_provider_codex::sidecar::{self, check_bind, SidecarError};
use serde_json::{json, Value};
use sidecar_support::*;

#[tokio::test]
async fn inbound_api_key_is_required_when_set() {
    let cfg = config(&[
        ("sidecar.echo", json!(true)),
        ("sidecar.api_key", json!("s3cret-key")),
    ]);
    let sc = start(cfg, &[]).await;
    let base = sc.base().to_string();
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/chat/completions");
    let body = chat_body(json!("hi"), false);

    let r = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        error_of(&r.text().await.unwrap())["type"],
        "authentication_error"
    );
    let r = client
        .post(&url)
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let text = r.text().await.unwrap();
    assert!(!text.contains("s3cret-key"), "the key leaked: {text}");
    let r = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(&url)
        .bearer_auth("s3cret-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Health probes need no key.
    let r = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn missing_credentials_are_a_401_with_guidance() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere/auth.json");
    let cfg = config(&[("sidecar.auth_path", json!(missing.display().to_string()))]);
    let sc = start(cfg, &[]).await;
    let (status, _, body) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 401, "{body}");
    let e = error_of(&body);
    assert_eq!(e["type"], "authentication_error");
    let msg = e["message"].as_str().unwrap();
    for needle in [
        missing.display().to_string().as_str(),
        "~/.codex/auth.json",
        "read-only",
        "CODEX_AUTH_PATH",
        "CODEX_SIDECAR_ECHO=1",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from {msg}");
    }
    // A file that is not JSON fails the same way.
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    std::fs::write(&missing, "not json").unwrap();
    let (status, _, body) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), true)).await;
    assert_eq!(status, 401);
    assert!(error_of(&body)["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    let h: Value = reqwest::get(sc.base().join("healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["auth_present"], false);
}

#[tokio::test]
async fn non_loopback_bind_needs_a_key_or_an_override() {
    let open = config(&[("sidecar.host", json!("0.0.0.0"))]);
    let err = check_bind(&open).unwrap_err();
    assert!(matches!(
        err,
        SidecarError::Bind(scillm_serve::BindError::Insecure { .. })
    ));
    assert!(err.to_string().contains("CODEX_SIDECAR_API_KEY"));
    // `serve` refuses before binding anything.
    let served = sidecar::serve(Arc::new(open), async {}).await;
    assert!(matches!(
        served,
        Err(SidecarError::Bind(scillm_serve::BindError::Insecure { .. }))
    ));
    for ok in [
        config(&[("sidecar.host", json!("127.0.0.1"))]),
        config(&[("sidecar.host", json!("localhost"))]),
        config(&[("sidecar.host", json!("::1"))]),
        config(&[
            ("sidecar.host", json!("0.0.0.0")),
            ("sidecar.api_key", json!("k")),
        ]),
        config(&[
            ("sidecar.host", json!("0.0.0.0")),
            ("sidecar.allow_insecure_bind", json!(true)),
        ]),
    ] {
        check_bind(&ok).unwrap();
    }
}
