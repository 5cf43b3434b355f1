//! The event-semantics rules of SPEC §12 with a fault Codex CLI (`fault_codex.sh`) on both
//! backends: an error the turn recovers from is a warning; commentary is never content and
//! the streamed answer equals the complete one; output of old CLIs is a 502
//! `codex_output_unrecognised`; the child's environment is the allowlist.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use std::path::Path;

use serde_json::{json, Value};
use sidecar_support::*;

const BACKENDS: [&str; 2] = ["app-server", "exec"];

async fn fault_sidecar(
    backend: &str,
    fault: &str,
    auth: &Path,
    state: &Path,
    extra: &[(&str, Value)],
) -> scillm_provider_codex::sidecar::RunningSidecar {
    let mut values = vec![("sidecar.backend", json!(backend))];
    values.extend(extra.iter().cloned());
    let cfg = cli_config("fault_codex.sh", auth, &values);
    start(cfg, &[("FAULT", Path::new(fault)), ("STATE_DIR", state)]).await
}

fn content(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap();
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_error_the_turn_recovers_from_is_only_a_warning() {
    let auth = auth_dir();
    for backend in BACKENDS {
        let state = tempfile::tempdir().unwrap();
        let sc = fault_sidecar(backend, "reconnect", auth.path(), state.path(), &[]).await;
        let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
        assert_eq!(status, 200, "{backend}: {text}");
        assert_eq!(content(&text), "recovered answer", "{backend}");
        let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), true)).await;
        assert_eq!(status, 200, "{backend}: {text}");
        assert_eq!(streamed_text(&text), "recovered answer", "{backend}");
        sc.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn commentary_is_never_content_streamed_or_not() {
    let auth = auth_dir();
    for backend in BACKENDS {
        let state = tempfile::tempdir().unwrap();
        let sc = fault_sidecar(backend, "commentary", auth.path(), state.path(), &[]).await;
        let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
        assert_eq!(status, 200, "{backend}: {text}");
        assert_eq!(content(&text), "The answer is 4.", "{backend}");
        let (status, _, streamed) =
            post_chat(sc.base().as_str(), &chat_body(json!("hi"), true)).await;
        assert_eq!(status, 200, "{backend}: {streamed}");
        assert_eq!(streamed_text(&streamed), content(&text), "{backend}");
        sc.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn output_of_old_clis_is_unrecognised_never_content() {
    let auth = auth_dir();
    for backend in BACKENDS {
        let state = tempfile::tempdir().unwrap();
        let sc = fault_sidecar(backend, "old", auth.path(), state.path(), &[]).await;
        for stream in [false, true] {
            let (status, _, text) =
                post_chat(sc.base().as_str(), &chat_body(json!("hi"), stream)).await;
            assert_eq!(status, 502, "{backend}: {text}");
            let e = error_of(&text);
            assert_eq!(e["code"], "codex_output_unrecognised", "{backend}: {text}");
            assert!(
                e["message"]
                    .as_str()
                    .unwrap()
                    .contains(scillm_provider_codex::MIN_CODEX_CLI_VERSION),
                "{text}"
            );
            assert!(!text.contains("raw old output\","), "{text}");
        }
        sc.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn the_child_environment_is_the_allowlist() {
    // Each test runs in its own process under nextest: this environment is this test's.
    let secrets = [
        ("CODEX_SIDECAR_API_KEY", "sk-sidecar-secret"),
        ("CODEX_FORWARD_TOKEN", "tok-forward-secret"),
        ("OPENAI_API_KEY", "sk-deployment-secret"),
    ];
    for (k, v) in secrets {
        std::env::set_var(k, v);
    }
    std::env::set_var("MY_TOOL_SETTING", "passed-through");
    std::env::set_var("LEAKY", "tok-forward-secret");
    let auth = auth_dir();
    for backend in BACKENDS {
        let state = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let mut cfg_extra = vec![
            ("sidecar.forward_token", json!("tok-forward-secret")),
            (
                "sidecar.env_passthrough",
                json!(["MY_TOOL_SETTING", "LEAKY"]),
            ),
        ];
        cfg_extra.push((
            "model_list",
            json!([{"model_name": "m", "provider": "openai", "api_key": "sk-deployment-secret"}]),
        ));
        let mut values = vec![("sidecar.backend", json!(backend))];
        values.extend(cfg_extra);
        let cfg = cli_config("fault_codex.sh", auth.path(), &values);
        let sc = start(
            cfg,
            &[
                ("FAULT", Path::new("env")),
                ("STATE_DIR", state.path()),
                ("CODEX_HOME", home.path()),
            ],
        )
        .await;
        let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
        assert_eq!(status, 200, "{backend}: {text}");
        let env = read(&state.path().join("env"));
        for (k, v) in secrets {
            assert!(
                !env.contains(v),
                "{backend}: {k}'s value reached the child:\n{env}"
            );
        }
        assert!(
            !env.contains("LEAKY="),
            "{backend}: a secret value passed through"
        );
        assert!(
            env.contains(&format!("CODEX_HOME={}", home.path().display())),
            "{backend}: {env}"
        );
        assert!(
            env.contains("MY_TOOL_SETTING=passed-through"),
            "{backend}: {env}"
        );
        assert!(
            env.lines().any(|l| l.starts_with("PATH=")),
            "{backend}: {env}"
        );
        sc.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_used_up_rate_limit_window_is_429_with_retry_after() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = fault_sidecar("app-server", "quota", auth.path(), state.path(), &[]).await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    let h = health(sc.base().as_str()).await;
    assert_eq!(h["rate_limits"]["primary"]["usedPercent"], 100, "{h}");
    for stream in [false, true] {
        let (status, headers, text) =
            post_chat(sc.base().as_str(), &chat_body(json!("hi"), stream)).await;
        assert_eq!(status, 429, "{text}");
        assert_eq!(error_of(&text)["code"], "codex_quota_exhausted");
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((100..=121).contains(&wait), "Retry-After {wait}");
    }
    sc.shutdown().await.unwrap();
}

#[tokio::test]
async fn approval_requests_are_declined() {
    let auth = auth_dir();
    let state = tempfile::tempdir().unwrap();
    let sc = fault_sidecar("app-server", "approval", auth.path(), state.path(), &[]).await;
    let (status, _, text) = post_chat(sc.base().as_str(), &chat_body(json!("hi"), false)).await;
    assert_eq!(status, 200, "{text}");
    let reply: Value = serde_json::from_str(&read(&state.path().join("approval"))).unwrap();
    assert_eq!(
        reply,
        json!({"id": "srv-1", "result": {"decision": "decline"}})
    );
    sc.shutdown().await.unwrap();
}
