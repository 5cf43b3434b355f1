//! A LiteLLM `config.yaml`, unchanged, loads through `SCILLM_CONFIG` and routes (SPEC §13).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{item, meta};
use scillm_core::config::{ConfigLoader, RoutingStrategy};
use scillm_router::Router;
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::json;

#[tokio::test]
async fn a_litellm_config_yaml_loads_and_routes() {
    let a = ChatMock::builder().content("from a").start().await.unwrap();
    let b = ChatMock::builder().content("from b").start().await.unwrap();
    let down = ChatMock::builder()
        .respond_with(|_| MockReply::status(503))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    // As LiteLLM's docs write it: OpenAI-SDK bases ending in /v1, keys from the
    // environment, router_settings, and keys scillm has no use for.
    let yaml = format!(
        r#"model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: {a}/v1
      api_key: os.environ/UPSTREAM_KEY_A
      rpm: 6000
      timeout: 30
    model_info:
      id: dep-a
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: {b}/v1
      api_key: os.environ/UPSTREAM_KEY_B
      tpm: 100000
      api_version: "2024-06-01"
  - model_name: primary
    litellm_params:
      model: openai/primary-model
      api_base: {down}/v1
litellm_settings:
  drop_params: true
router_settings:
  routing_strategy: least-busy
  num_retries: 1
  timeout: 20
  cooldown_time: 15
  allowed_fails: 1
  fallbacks: [{{"primary": ["gpt-4o"]}}]
  redis_host: localhost
"#,
        a = a.base_url(),
        b = b.base_url(),
        down = down.base_url()
    );
    std::fs::write(&path, yaml).unwrap();
    let config = ConfigLoader::new()
        .env_from([
            ("SCILLM_CONFIG", path.display().to_string()),
            ("UPSTREAM_KEY_A", "sk-key-a".to_string()),
            ("UPSTREAM_KEY_B", "sk-key-b".to_string()),
        ])
        .load()
        .unwrap();
    assert_eq!(config.model_list.len(), 3);
    assert_eq!(config.router.routing_strategy, RoutingStrategy::LeastBusy);
    assert_eq!(config.router.num_retries, 1);
    assert_eq!(config.router.timeout_s, Some(20.0));
    assert_eq!(config.router.cooldown_s, 15.0);
    assert_eq!(config.router.allowed_fails, 1);
    assert_eq!(config.model_list[0].provider, "openai");
    assert_eq!(config.model_list[0].model.as_deref(), Some("gpt-4o"));
    assert_eq!(config.model_list[0].rpm, Some(6000));
    assert_eq!(config.model_list[0].timeout_s, Some(30.0));
    assert_eq!(config.model_list[1].tpm, Some(100_000));

    let router = Router::new(Arc::new(config)).unwrap();
    assert_eq!(router.model_names(), vec!["gpt-4o", "primary"]);
    for i in 0..4 {
        let res = router.completion(item("gpt-4o", &format!("q{i}"))).await;
        assert!(res.is_ok(), "{:?}", res.meta);
    }
    assert_eq!(
        (a.request_count(), b.request_count()),
        (2, 2),
        "least-busy alternates"
    );
    let auth = |m: &ChatMock| m.requests()[0].header("authorization").unwrap().to_string();
    assert_eq!(auth(&a), "Bearer sk-key-a");
    assert_eq!(auth(&b), "Bearer sk-key-b");
    assert_eq!(a.requests()[0].model(), "gpt-4o");
    assert_eq!(a.requests()[0].path, "/v1/chat/completions");
    // The fallback from router_settings.
    let res = router.completion(item("primary", "q")).await;
    assert!(res.is_ok(), "{:?}", res.meta);
    assert_eq!(meta(&res)["model_fallback"], "gpt-4o");
}

#[test]
fn a_missing_environment_reference_names_the_key_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let body = json!({"model_list": [{"model_name": "m",
        "litellm_params": {"model": "openai/m", "api_key": "os.environ/NOT_SET_ANYWHERE"}}]});
    std::fs::write(&path, body.to_string()).unwrap();
    let err = ConfigLoader::new()
        .file(&path)
        .env_from(Vec::<(String, String)>::new())
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("model_list.0.litellm_params.api_key"), "{err}");
    assert!(err.contains("NOT_SET_ANYWHERE"), "{err}");
}
