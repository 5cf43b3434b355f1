//! Configuration files in YAML, JSON and TOML, in scillm's form and LiteLLM's (SPEC §13).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scillm_core::config::{ConfigLoader, RoutingStrategy};

fn load(name: &str, body: &str, env: &[(&str, &str)]) -> Result<scillm_core::Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    ConfigLoader::new()
        .file(&path)
        .env_from(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .load()
        .map_err(|e| e.to_string())
}

#[test]
fn a_scillm_yaml_file_with_per_deployment_keys() {
    let c = load(
        "scillm.yaml",
        r#"
router:
  routing_strategy: usage-based
  rpm: 600
  num_retries: 4
model_list:
  - model_name: fast
    model: openai/gpt-4o-mini
    api_base: http://127.0.0.1:9000
    rpm: 60
    tpm: 1000
    max_parallel_requests: 2
    timeout_s: 5
    num_retries: 1
    cooldown_s: 3
    weight: 2.5
    order: 1
  - model_name: codex-agent/gpt-5
"#,
        &[],
    )
    .unwrap();
    assert_eq!(c.router.routing_strategy, RoutingStrategy::UsageBased);
    assert_eq!((c.router.rpm, c.router.num_retries), (Some(600), 4));
    let d = &c.model_list[0];
    assert_eq!(d.provider, "openai", "inferred from the model prefix");
    assert_eq!(d.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(
        (d.rpm, d.tpm, d.max_parallel_requests),
        (Some(60), Some(1000), Some(2))
    );
    assert_eq!(
        (d.timeout_s, d.num_retries, d.cooldown_s),
        (Some(5.0), Some(1), Some(3.0))
    );
    assert_eq!((d.weight, d.order), (Some(2.5), Some(1)));
    let codex = &c.model_list[1];
    assert_eq!(codex.provider, "codex-agent", "inferred from model_name");
    assert_eq!(codex.model.as_deref(), Some("gpt-5"));
}

#[test]
fn a_deployment_without_a_provider_or_prefix_is_an_error_naming_it() {
    let err = load(
        "scillm.toml",
        "[[model_list]]\nmodel_name = \"plain\"\n",
        &[],
    )
    .unwrap_err();
    assert!(err.contains("model_list.0"), "{err}");
    assert!(err.contains("codex-agent/"), "{err}");
}

#[test]
fn unknown_keys_in_scillm_sections_stay_errors_in_a_litellm_file() {
    let err = load(
        "config.yaml",
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\nrouter:\n  concurency: 3\n",
        &[],
    )
    .unwrap_err();
    assert!(err.contains("concurency"), "{err}");
}

#[test]
fn a_litellm_toml_and_json_load_the_same_way() {
    let toml = r#"
[[model_list]]
model_name = "m"
[model_list.litellm_params]
model = "codex-agent/gpt-5"
api_key = "os.environ/K"
rpm = 30

[router_settings]
routing_strategy = "latency-based-routing"
"#;
    let json = r#"{"model_list": [{"model_name": "m", "litellm_params":
        {"model": "codex-agent/gpt-5", "api_key": "os.environ/K", "rpm": 30}}],
        "router_settings": {"routing_strategy": "latency-based-routing"}}"#;
    for (name, body) in [("config.toml", toml), ("config.json", json)] {
        let c = load(name, body, &[("K", "sk-from-env")]).unwrap();
        let d = &c.model_list[0];
        assert_eq!(d.provider, "codex-agent", "{name}");
        assert_eq!(d.model.as_deref(), Some("gpt-5"));
        assert_eq!(d.rpm, Some(30));
        assert!(d.api_key.is_some());
        assert_eq!(c.router.routing_strategy, RoutingStrategy::LatencyBased);
        // The key from the environment is a secret like any other.
        assert!(!format!("{c:?}").contains("sk-from-env"));
    }
}

#[test]
fn environment_overrides_still_win_over_a_litellm_file() {
    let c = load(
        "config.yaml",
        "model_list: []\nrouter_settings:\n  num_retries: 1\n",
        &[
            ("SCILLM_NUM_RETRIES", "5"),
            ("SCILLM_DETERMINISTIC_SEED", "9"),
        ],
    )
    .unwrap();
    assert_eq!(c.router.num_retries, 5);
    assert_eq!(c.router.seed, Some(9));
}
