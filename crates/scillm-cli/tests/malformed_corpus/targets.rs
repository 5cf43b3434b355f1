//! The servers under test, each started in-process on an ephemeral loopback port.

use std::net::SocketAddr;
use std::sync::Arc;

use scillm_core::config::ConfigLoader;
use scillm_core::Config;
use scillm_mini_agent::shim::RunningShim;
use scillm_provider_codex::sidecar::RunningSidecar;
use serde_json::{json, Value};

/// The inbound API key every target is started with (bad-`Authorization` cases need one).
pub const KEY: &str = "corpus-test-key";

/// Which server, in which mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The codex sidecar in echo mode.
    SidecarEcho,
    /// The codex sidecar, echo off, credentials present, `CODEX_CMD=false` (a CLI that
    /// always fails): every check before the CLI runs is exercised.
    SidecarCli,
    /// The codex sidecar, echo off, no credentials file (the 401 preflight).
    SidecarNoCredentials,
    /// The mini-agent shim in echo mode.
    MiniAgentEcho,
    /// The `scillm serve` gateway with a client key, in front of a mock upstream.
    Gateway,
}

/// A running server.
pub struct Target {
    /// Which one.
    pub kind: Kind,
    /// Its address.
    pub addr: SocketAddr,
    /// Its request body limit in bytes.
    pub max_body: usize,
    /// Its image size limit (sidecar CLI path).
    pub max_image: usize,
    // Kept alive while the target is in use; dropping them stops the servers.
    _sidecar: Option<RunningSidecar>,
    _shim: Option<RunningShim>,
    _gateway: Option<scillm_gateway::RunningGateway>,
    _mock: Option<scillm_testkit::chat_mock::ChatMock>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Start the server `kind` describes.
    pub async fn start(kind: Kind) -> Target {
        match kind {
            Kind::MiniAgentEcho => start_mini_agent().await,
            Kind::Gateway => start_gateway().await,
            _ => start_sidecar(kind).await,
        }
    }
}

fn config(values: &[(&str, Value)]) -> Config {
    let mut loader = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new());
    for (k, v) in values {
        loader = loader.set(k, v.clone());
    }
    loader.load().expect("test config loads")
}

async fn start_sidecar(kind: Kind) -> Target {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    if kind == Kind::SidecarCli {
        std::fs::write(&auth, r#"{"OPENAI_API_KEY":null}"#).unwrap();
    }
    let config = Arc::new(config(&[
        ("sidecar.echo", json!(kind == Kind::SidecarEcho)),
        ("sidecar.api_key", json!(KEY)),
        ("sidecar.cmd", json!("false")),
        ("sidecar.auth_path", json!(auth.display().to_string())),
    ]));
    let (max_body, max_image) = (
        config.sidecar.max_body_bytes,
        config.sidecar.max_image_bytes,
    );
    let running = scillm_provider_codex::sidecar::spawn(config).await.unwrap();
    Target {
        kind,
        addr: running.addr(),
        max_body,
        max_image,
        _sidecar: Some(running),
        _shim: None,
        _gateway: None,
        _mock: None,
        _dir: Some(dir),
    }
}

async fn start_mini_agent() -> Target {
    let config = Arc::new(config(&[
        ("mini_agent.port", json!(0)),
        ("mini_agent.shim_mode", json!("echo")),
        ("mini_agent.api_key", json!(KEY)),
    ]));
    let running = scillm_mini_agent::shim::spawn_with(config, None)
        .await
        .unwrap();
    Target {
        kind: Kind::MiniAgentEcho,
        addr: running.addr(),
        max_body: scillm_mini_agent::shim::MAX_BODY_BYTES,
        max_image: 0,
        _sidecar: None,
        _shim: Some(running),
        _gateway: None,
        _mock: None,
        _dir: None,
    }
}

/// The gateway's body limit in the corpus (small, so over-limit cases stay quick).
const GATEWAY_MAX_BODY: usize = 1024 * 1024;

async fn start_gateway() -> Target {
    let mock = scillm_testkit::chat_mock::ChatMock::builder()
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_sha256: String = scillm_serve::digest(KEY)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let config = Arc::new(config(&[
        (
            "model_list",
            json!([{"model_name": "gpt-5", "provider": "openai",
                    "api_base": mock.base_url(), "api_key": "sk-upstream"}]),
        ),
        (
            "gateway.keys",
            json!([{"name": "corpus", "key_sha256": key_sha256}]),
        ),
        ("gateway.max_body_bytes", json!(GATEWAY_MAX_BODY)),
        ("gateway.data_dir", json!(dir.path().display().to_string())),
    ]));
    let running = scillm_gateway::spawn(config).await.unwrap();
    Target {
        kind: Kind::Gateway,
        addr: running.addr(),
        max_body: GATEWAY_MAX_BODY,
        max_image: 0,
        _sidecar: None,
        _shim: None,
        _gateway: Some(running),
        _mock: Some(mock),
        _dir: Some(dir),
    }
}
