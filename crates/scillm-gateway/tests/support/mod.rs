//! Shared fixtures: mock upstreams and a gateway config over them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use scillm_core::config::ConfigLoader;
use scillm_core::Config;
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::{json, Value};

// Link the openai provider into the test binary (it registers itself).
use scillm_provider_codex as _;

/// The three upstreams of the standard fixture.
pub struct Upstreams {
    /// Answers `from alpha`.
    pub alpha: ChatMock,
    /// Always 500.
    pub broken: ChatMock,
    /// Always 429 with `Retry-After: 7`.
    pub limited: ChatMock,
}

/// Start the three upstreams.
pub async fn upstreams() -> Upstreams {
    Upstreams {
        alpha: ChatMock::builder()
            .content("from alpha")
            .start()
            .await
            .unwrap(),
        broken: ChatMock::builder()
            .respond_with(|_| MockReply::status(500))
            .start()
            .await
            .unwrap(),
        limited: ChatMock::builder()
            .respond_with(|_| MockReply::status(429).with_retry_after("7"))
            .start()
            .await
            .unwrap(),
    }
}

/// `model_list`: `alpha` and `alpha-2` on the alpha mock, `broken` (falls back to
/// `alpha`) and `limited`; `extra` dotted keys on top.
pub fn config(up: &Upstreams, data_dir: &std::path::Path, extra: &[(&str, Value)]) -> Arc<Config> {
    let deployment = |name: &str, mock: &ChatMock| {
        json!({"model_name": name, "provider": "openai", "model": "upstream-model",
               "api_base": mock.base_url(), "api_key": "sk-upstream"})
    };
    let mut loader = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set(
            "model_list",
            json!([
                deployment("alpha", &up.alpha),
                deployment("alpha-2", &up.alpha),
                deployment("broken", &up.broken),
                deployment("limited", &up.limited),
            ]),
        )
        .set("router.fallbacks", json!({"broken": ["alpha"]}))
        .set("codex_agent.max_retries", 1)
        .set("codex_agent.retry_base_ms", 1)
        .set("codex_agent.max_backoff_ms", 2)
        .set("codex_agent.max_retry_after_s", 1)
        .set("gateway.data_dir", data_dir.display().to_string());
    for (k, v) in extra {
        loader = loader.set(k, v.clone());
    }
    Arc::new(loader.load().unwrap())
}

/// A one-message chat body for `model`.
pub fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}
