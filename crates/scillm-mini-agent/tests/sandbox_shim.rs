//! The sandbox seen through the running shim, as a model's tool calls use it (SPEC §15).
//! Needs a working bubblewrap (the tests fail, never skip, without one), except the two
//! that take it off `PATH` on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use scillm_core::config::ConfigLoader;
use serde_json::{json, Value};
use support::shim_helpers::{port0, post, start};
use support::{config, marker, processes_with, tool_replies, MockModel, Step};

async fn health(base: &str) -> Value {
    reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn assert_bubblewrap(h: &Value) {
    assert_eq!(
        h["sandbox"], "bubblewrap",
        "bubblewrap is required for this test and does not work here: {h}"
    );
}

#[tokio::test]
async fn a_tool_cannot_read_the_servers_config_credentials_or_environment_nor_connect_out() {
    // The server runs in a directory holding its scillm.toml (with a key), its credentials
    // file lies outside home, and a secret is in its environment.
    let cwd = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let toml = cwd.path().join("scillm.toml");
    std::fs::write(
        &toml,
        "[codex_agent]\napi_key = \"sk-config-secret-0123456789\"\n",
    )
    .unwrap();
    std::env::set_current_dir(cwd.path()).unwrap();
    let creds_dir = tempfile::Builder::new()
        .prefix("scillm-creds-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let creds = creds_dir.path().join("auth.json");
    std::fs::write(&creds, r#"{"OPENAI_API_KEY":"cred-secret-abcdef"}"#).unwrap();
    std::env::set_var("SCILLM_SHIM_ENV_SECRET", "env-secret-fedcba");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();

    let code = format!(
        "import socket\n\
         for p in [{toml:?}, 'scillm.toml', {creds:?}, '/proc/{pid}/environ']:\n    try:\n        print('READ', p, open(p, 'rb').read())\n    except Exception as e:\n        print('denied', p, type(e).__name__)\n\
         try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n    print('CONNECTED')\nexcept OSError as e:\n    print('blocked', e)\n",
        toml = toml.display().to_string(),
        creds = creds.display().to_string(),
        pid = std::process::id(),
    );
    let mock = MockModel::start(vec![
        Step::call("p", "exec_python", json!({ "code": code })),
        Step::call(
            "c",
            "exec_shell",
            json!({ "command": format!("cat {}", toml.display()) }),
        ),
        Step::text("done"),
    ])
    .await;
    // The config is read from the server's directory, as a deployment would have it.
    let cfg = ConfigLoader::new()
        .env_from(Vec::<(String, String)>::new())
        .set("mini_agent.model", "m")
        .set("mini_agent.port", 0)
        .set("mini_agent.max_tools_per_iter", 1)
        .set("codex_agent.max_retries", 0)
        .set("sidecar.auth_path", creds.display().to_string())
        .set(
            "model_list",
            json!([{ "model_name": "m", "provider": "openai", "api_base": mock.base() }]),
        )
        .load()
        .unwrap();
    assert!(
        cfg.codex_agent.api_key.is_some(),
        "scillm.toml was not read"
    );
    let shim = start(cfg).await;
    assert_bubblewrap(&health(&shim.base()).await);
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({ "prompt": "snoop" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let reqs = mock.requests();
    let py: Value = serde_json::from_str(&tool_replies(&reqs[1])[0].1).unwrap();
    let out = py["stdout"].as_str().unwrap();
    assert!(!out.contains("READ"), "{out}");
    assert_eq!(out.matches("denied").count(), 4, "{out}");
    assert!(out.contains("blocked"), "{out}");
    let cat = tool_replies(&reqs[2]).last().unwrap().1.clone();
    assert!(cat.contains("No such file"), "{cat}");
    let all = serde_json::to_string(&reqs).unwrap() + &body.to_string();
    for secret in ["sk-config-secret", "cred-secret", "env-secret"] {
        assert!(
            !all.contains(secret),
            "{secret} reached the model or the client"
        );
    }
}

#[tokio::test]
async fn a_fork_bomb_is_stopped_the_server_stays_healthy_and_no_process_outlives_a_run() {
    let m = marker();
    let bomb = "import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError as e:\n        print('limited after', n, flush=True)\n        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    n += 1\n";
    let escape = format!(
        "import os, subprocess\n\
         if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        subprocess.Popen(['sleep', '{m}'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n    os._exit(0)\n\
         os.wait()\nprint('escaped?', flush=True)\n"
    );
    let mock = MockModel::start(vec![
        Step::call("b", "exec_python", json!({ "code": bomb })),
        Step::call("e", "exec_python", json!({ "code": escape })),
        Step::text("survived"),
    ])
    .await;
    let shim = start(config(
        &mock.base(),
        &port0(&[("mini_agent.tool_max_processes", json!(32))]),
    ))
    .await;
    assert_bubblewrap(&health(&shim.base()).await);
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({ "prompt": "break it" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["final_answer"], "survived");
    let reqs = mock.requests();
    let bomb_out: Value = serde_json::from_str(&tool_replies(&reqs[1])[0].1).unwrap();
    assert!(
        bomb_out["stdout"]
            .as_str()
            .unwrap()
            .starts_with("limited after"),
        "{bomb_out}"
    );
    let escape_out: Value =
        serde_json::from_str(&tool_replies(&reqs[2]).last().unwrap().1).unwrap();
    assert_eq!(escape_out["stdout"], "escaped?\n", "{escape_out}");
    assert_eq!(
        processes_with(&m),
        Vec::<u32>::new(),
        "the double-forked sleep outlived the run"
    );
    assert_eq!(health(&shim.base()).await["ok"], true);
    let (status, _) = post(
        format!("{}/agent/run", shim.base()),
        json!({ "prompt": "still there?", "model": "dummy" }),
    )
    .await;
    assert_eq!(status, 200);
}

/// A shim started with no `bwrap` on `PATH` (this test process's `PATH` is changed; each
/// test runs in its own process under nextest).
async fn shim_without_bwrap(
    mock: &MockModel,
    extra: &[(&str, Value)],
) -> scillm_mini_agent::RunningShim {
    std::env::set_var("PATH", "/nonexistent-scillm-test");
    let cfg = config(&mock.base(), &port0(extra));
    let router = scillm_router::Router::new(Arc::new(cfg.clone())).unwrap();
    let shim = scillm_mini_agent::shim::spawn_with(Arc::new(cfg), Some(Arc::new(router)))
        .await
        .unwrap();
    support::shim_helpers::wait_ready(&shim.base()).await;
    shim
}

#[tokio::test]
async fn without_bubblewrap_exec_tools_are_refused_with_the_install_hint() {
    let mock = MockModel::start(vec![
        Step::call("p", "exec_python", json!({ "code": "print('ran')" })),
        Step::text("could not"),
    ])
    .await;
    let shim = shim_without_bwrap(&mock, &[]).await;
    let h = health(&shim.base()).await;
    assert_eq!(h["sandbox"], "unavailable", "{h}");
    assert_eq!(h["sandbox_protections"]["exec_tools_enabled"], false);
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({ "prompt": "run" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reply = &tool_replies(&mock.requests()[1])[0].1;
    assert!(reply.starts_with("error: "), "{reply}");
    assert!(reply.contains("apt-get install bubblewrap"), "{reply}");
    assert!(reply.contains("MINI_AGENT_ALLOW_UNSANDBOXED=1"), "{reply}");
    assert!(!reply.contains("ran"), "{reply}");
}

#[tokio::test]
async fn with_allow_unsandboxed_tools_run_and_healthz_says_none() {
    let mock = MockModel::start(vec![
        Step::call("p", "exec_python", json!({ "code": "print('ran')" })),
        Step::text("it ran"),
    ])
    .await;
    let shim = shim_without_bwrap(&mock, &[("mini_agent.allow_unsandboxed", json!(true))]).await;
    let h = health(&shim.base()).await;
    assert_eq!(h["sandbox"], "none", "{h}");
    assert!(!h["sandbox_protections"]["limitations"]
        .as_array()
        .unwrap()
        .is_empty());
    let (status, body) = post(
        format!("{}/agent/run", shim.base()),
        json!({ "prompt": "run" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&tool_replies(&mock.requests()[1])[0].1).unwrap();
    assert_eq!(reply["stdout"], "ran\n", "{reply}");
}
