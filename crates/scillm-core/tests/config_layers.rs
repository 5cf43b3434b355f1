//! Configuration layers, the no-/v1 base rule at load time, unknown keys and redaction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use scillm_core::config::{ConfigError, ConfigLoader};
use secrecy::ExposeSecret;

fn toml_file(body: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(body.as_bytes()).unwrap();
    f
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let c = ConfigLoader::new()
        .no_file()
        .env_from(no_env())
        .load()
        .unwrap();
    assert_eq!(c.codex_agent.max_retries, 2);
    assert_eq!(c.codex_agent.retry_base_ms, 120);
    assert_eq!(c.codex_agent.max_backoff_ms, 1500);
    assert_eq!(c.sidecar.port, 8077);
    assert_eq!(c.mini_agent.port, 8788);
    assert_eq!(c.sidecar.echo_reply, "shim ok");
    assert!(c.codex_agent.api_base.is_none());
}

#[test]
fn each_layer_overrides_the_one_below() {
    let f = toml_file(
        "[codex_agent]\nmax_retries = 5\nretry_base_ms = 10\nmax_backoff_ms = 20\n[sidecar]\nport = 9000\n",
    );
    // file over default
    let c = ConfigLoader::new()
        .file(f.path())
        .env_from(no_env())
        .load()
        .unwrap();
    assert_eq!(
        (c.codex_agent.max_retries, c.codex_agent.retry_base_ms),
        (5, 10)
    );
    assert_eq!(c.sidecar.port, 9000);
    // env over file
    let c = ConfigLoader::new()
        .file(f.path())
        .env_from([
            ("CODEX_AGENT_MAX_RETRIES", "7"),
            ("CODEX_SIDECAR_PORT", "9100"),
        ])
        .load()
        .unwrap();
    assert_eq!(c.codex_agent.max_retries, 7);
    assert_eq!(
        c.codex_agent.retry_base_ms, 10,
        "untouched file value stays"
    );
    assert_eq!(c.sidecar.port, 9100);
    // explicit over env
    let c = ConfigLoader::new()
        .file(f.path())
        .env_from([("CODEX_AGENT_MAX_RETRIES", "7")])
        .set("codex_agent.max_retries", 1)
        .load()
        .unwrap();
    assert_eq!(c.codex_agent.max_retries, 1);
}

#[test]
fn scillm_prefix_beats_litellm_which_beats_the_bare_name() {
    let c = ConfigLoader::new()
        .no_file()
        .env_from([
            ("CODEX_AGENT_MAX_RETRIES", "1"),
            ("LITELLM_CODEX_AGENT_MAX_RETRIES", "2"),
            ("SCILLM_CODEX_AGENT_MAX_RETRIES", "3"),
        ])
        .load()
        .unwrap();
    assert_eq!(c.codex_agent.max_retries, 3);
    let c = ConfigLoader::new()
        .no_file()
        .env_from([
            ("CODEX_AGENT_MAX_RETRIES", "1"),
            ("LITELLM_CODEX_AGENT_MAX_RETRIES", "2"),
        ])
        .load()
        .unwrap();
    assert_eq!(c.codex_agent.max_retries, 2);
}

#[test]
fn runbook_env_names_are_honoured() {
    let c = ConfigLoader::new()
        .no_file()
        .env_from([
            ("LITELLM_ENABLE_CODEX_AGENT", "1"),
            ("CODEX_AGENT_API_BASE", "http://127.0.0.1:8077"),
            ("SCILLM_RETRY_META", "1"),
            ("CODEX_AGENT_ENABLE_METRICS", "true"),
            ("CODEX_ECHO_MODE", "yes"),
            ("CODEX_AGENT_DETERMINISTIC_SEED", "42"),
            ("MAX_CONCURRENCY", "2"),
            ("IDLE_TIMEOUT_S", "2.5"),
            ("CODEX_INPUT_MODE", "json"),
            ("MINI_AGENT_OPENAI_SHIM_MODE", "echo"),
            ("MINI_AGENT_API_PORT", "9999"),
        ])
        .load()
        .unwrap();
    assert!(c.enable_codex_agent);
    assert_eq!(
        c.codex_agent.api_base.as_ref().map(|b| b.as_str()),
        Some("http://127.0.0.1:8077")
    );
    assert!(c.router.retry_meta && c.codex_agent.enable_metrics && c.sidecar.echo);
    assert_eq!(c.codex_agent.deterministic_seed, Some(42));
    assert_eq!(c.sidecar.max_concurrency, 2);
    assert_eq!(c.sidecar.idle_timeout_s, 2.5);
    assert_eq!(c.sidecar.input_mode, scillm_core::config::InputMode::Json);
    assert_eq!(c.mini_agent.shim_mode, "echo");
    assert_eq!(c.mini_agent.port, 9999);
}

fn load_err(loader: ConfigLoader) -> String {
    match loader.load() {
        Ok(_) => panic!("expected a config error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn v1_base_from_env_is_rejected_naming_the_variable_value_and_fix() {
    for value in ["http://127.0.0.1:8077/v1", "http://127.0.0.1:8077/v1/"] {
        let msg = load_err(
            ConfigLoader::new()
                .no_file()
                .env_from([("CODEX_AGENT_API_BASE", value)]),
        );
        assert!(msg.contains("env CODEX_AGENT_API_BASE"), "{msg}");
        assert!(msg.contains(value), "{msg}");
        assert!(msg.contains("`http://127.0.0.1:8077`"), "{msg}");
    }
    let msg = load_err(
        ConfigLoader::new()
            .no_file()
            .env_from([("SCILLM_CODEX_AGENT_API_BASE", "http://h/v1")]),
    );
    assert!(msg.contains("env SCILLM_CODEX_AGENT_API_BASE"), "{msg}");
    let msg = load_err(
        ConfigLoader::new()
            .no_file()
            .env_from([("CODEX_FORWARD_BASE", "https://gw.example.com/v1")]),
    );
    assert!(msg.contains("env CODEX_FORWARD_BASE"), "{msg}");
}

#[test]
fn a_pasted_chat_completions_endpoint_is_rejected_at_load_naming_source_and_fix() {
    for (var, value, fix) in [
        (
            "CODEX_AGENT_API_BASE",
            "http://127.0.0.1:8077/v1/chat/completions",
            "`http://127.0.0.1:8077`",
        ),
        (
            "CODEX_FORWARD_BASE",
            "https://gw.example.com/openai/chat/completions",
            "`https://gw.example.com/openai`",
        ),
    ] {
        let msg = load_err(ConfigLoader::new().no_file().env_from([(var, value)]));
        assert!(msg.contains(&format!("env {var}")), "{msg}");
        assert!(msg.contains(value), "{msg}");
        assert!(msg.contains(fix), "{msg}");
        assert!(msg.contains("pasted endpoint"), "{msg}");
    }
}

#[test]
fn v1_base_from_a_file_key_is_rejected_naming_file_and_key() {
    let f = toml_file("[codex_agent]\napi_base = \"http://127.0.0.1:8077/v1\"\n");
    let msg = load_err(ConfigLoader::new().file(f.path()).env_from(no_env()));
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");
    assert!(msg.contains("key codex_agent.api_base"), "{msg}");
    assert!(msg.contains("`http://127.0.0.1:8077`"), "{msg}");

    let f = toml_file(
        "[[model_list]]\nmodel_name = \"m\"\nprovider = \"openai\"\napi_base = \"http://vllm:8000/v1/\"\n",
    );
    let msg = load_err(ConfigLoader::new().file(f.path()).env_from(no_env()));
    assert!(msg.contains("model_list"), "{msg}");
    assert!(msg.contains("api_base"), "{msg}");
    assert!(msg.contains("`http://vllm:8000`"), "{msg}");
}

#[test]
fn non_url_bases_are_rejected() {
    let msg = load_err(
        ConfigLoader::new()
            .no_file()
            .env_from([("CODEX_AGENT_API_BASE", "127.0.0.1:8077")]),
    );
    assert!(
        msg.contains("env CODEX_AGENT_API_BASE") && msg.contains("absolute http(s) URL"),
        "{msg}"
    );
    let f = toml_file("[sidecar]\nforward_base = \"not a url\"\n");
    let msg = load_err(ConfigLoader::new().file(f.path()).env_from(no_env()));
    assert!(msg.contains("key sidecar.forward_base"), "{msg}");
}

#[test]
fn unknown_file_keys_are_rejected_by_name() {
    let f = toml_file("[codex_agent]\napi_bsae = \"http://x\"\n");
    let msg = load_err(ConfigLoader::new().file(f.path()).env_from(no_env()));
    assert!(msg.contains("api_bsae"), "{msg}");
    let f = toml_file("colour = 1\n");
    let msg = load_err(ConfigLoader::new().file(f.path()).env_from(no_env()));
    assert!(msg.contains("colour"), "{msg}");
}

#[test]
fn bad_env_values_name_the_variable() {
    let err = ConfigLoader::new()
        .no_file()
        .env_from([("CODEX_AGENT_MAX_RETRIES", "lots")])
        .load()
        .unwrap_err();
    assert!(matches!(err, ConfigError::BadEnv { ref var, .. } if var == "CODEX_AGENT_MAX_RETRIES"));
}

#[test]
fn scillm_config_names_the_file() {
    let f = toml_file("[router]\nconcurrency = 3\n");
    let c = ConfigLoader::new()
        .env_from([("SCILLM_CONFIG", f.path().to_str().unwrap())])
        .load()
        .unwrap();
    assert_eq!(c.router.concurrency, 3);
    let msg =
        load_err(ConfigLoader::new().env_from([("SCILLM_CONFIG", "/nonexistent/scillm.toml")]));
    assert!(msg.contains("SCILLM_CONFIG"), "{msg}");
}

#[test]
fn secrets_never_show_in_debug_or_describe() {
    let f = toml_file(
        "[[model_list]]\nmodel_name = \"m\"\nprovider = \"openai\"\napi_key = \"sk-file-secret-1\"\n",
    );
    let loaded = ConfigLoader::new()
        .file(f.path())
        .env_from([
            ("CODEX_AGENT_API_KEY", "sk-env-secret-2"),
            ("CODEX_SIDECAR_API_KEY", "sk-env-secret-3"),
            ("CODEX_FORWARD_TOKEN", "sk-env-secret-4"),
        ])
        .load_with_sources()
        .unwrap();
    let c = &loaded.config;
    assert_eq!(
        c.codex_agent
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().to_string()),
        Some("sk-env-secret-2".to_string())
    );
    let debug = format!("{c:?} {loaded:?}");
    let shown = format!("{:?}", loaded.describe());
    for secret in [
        "sk-file-secret-1",
        "sk-env-secret-2",
        "sk-env-secret-3",
        "sk-env-secret-4",
    ] {
        assert!(!debug.contains(secret), "Debug leaks {secret}");
        assert!(!shown.contains(secret), "describe leaks {secret}");
    }
    assert!(shown.contains("[REDACTED]"));
}

#[test]
fn describe_names_each_source() {
    let f = toml_file("[router]\nconcurrency = 3\n");
    let loaded = ConfigLoader::new()
        .file(f.path())
        .env_from([("CODEX_SIDECAR_PORT", "9001")])
        .set("sidecar.echo", true)
        .load_with_sources()
        .unwrap();
    let rows = loaded.describe();
    let find = |k: &str| rows.iter().find(|r| r.0 == k).cloned().unwrap();
    assert_eq!(find("router.concurrency").1, "3");
    assert!(find("router.concurrency")
        .2
        .ends_with("key router.concurrency"));
    assert_eq!(find("sidecar.port").2, "env CODEX_SIDECAR_PORT");
    assert_eq!(find("sidecar.echo").2, "explicit value sidecar.echo");
    assert_eq!(find("codex_agent.max_retries").2, "default");
}

#[test]
fn state_and_cache_sections_load_and_the_redis_url_stays_secret() {
    let f =
        toml_file("[cache]\nmode = \"disk\"\nttl_s = 60\npath = \"/tmp/c\"\ncache_stream = true\n");
    let loaded = ConfigLoader::new()
        .file(f.path())
        .env_from([("SCILLM_REDIS_URL", "redis://:pw-hunter2@127.0.0.1:6379/0")])
        .load_with_sources()
        .unwrap();
    let c = &loaded.config;
    assert_eq!(c.cache.mode, scillm_core::config::CacheMode::Disk);
    assert_eq!(c.cache.ttl(), std::time::Duration::from_secs(60));
    assert!(c.cache.cache_stream && !c.cache.cache_nondeterministic);
    assert_eq!(
        c.state
            .redis_url
            .as_ref()
            .map(|u| u.expose_secret().to_string()),
        Some("redis://:pw-hunter2@127.0.0.1:6379/0".to_string())
    );
    let shown = format!("{c:?} {:?}", loaded.describe());
    assert!(!shown.contains("hunter2"), "{shown}");
    // A bare REDIS_URL belongs to other programs; an unknown cache key is an error.
    let c = ConfigLoader::new()
        .no_file()
        .env_from([("REDIS_URL", "redis://127.0.0.1:1")])
        .load()
        .unwrap();
    assert!(c.state.redis_url.is_none());
    let bad = toml_file("[cache]\nmode = \"memory\"\n");
    let msg = load_err(ConfigLoader::new().file(bad.path()).env_from(no_env()));
    assert!(msg.contains("memory"), "{msg}");
}
