//! Test support: a scripted OpenAI-compatible model server on loopback, and helpers.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod shim_helpers;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Json;
use scillm_core::config::ConfigLoader;
use scillm_core::Config;
use scillm_mini_agent::{Agent, AgentRequest, AgentRun};
use serde_json::{json, Value};
// Links the `openai` provider so the router finds it in the registry.
use scillm_provider_codex as _;

/// One scripted model answer.
#[derive(Debug, Clone)]
pub struct Step {
    /// Wait this long before answering.
    pub delay: Option<Duration>,
    /// Answer only once the test releases this gate (adds a permit).
    pub gate: Option<Arc<tokio::sync::Semaphore>>,
    /// The assistant message.
    pub message: Value,
}

impl Step {
    /// A plain text answer.
    pub fn text(text: &str) -> Self {
        Self {
            delay: None,
            gate: None,
            message: json!({ "role": "assistant", "content": text }),
        }
    }

    /// An answer calling tools: (id, name, raw arguments).
    pub fn calls(calls: &[(&str, &str, &str)]) -> Self {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, args)| {
                json!({ "id": id, "type": "function", "function": { "name": name, "arguments": args } })
            })
            .collect();
        Self {
            delay: None,
            gate: None,
            message: json!({ "role": "assistant", "content": null, "tool_calls": calls }),
        }
    }

    /// One tool call with JSON arguments.
    pub fn call(id: &str, name: &str, args: Value) -> Self {
        Self::calls(&[(id, name, &args.to_string())])
    }

    /// Answer once `gate` gets a permit (the permit is used up).
    pub fn held(mut self, gate: &Arc<tokio::sync::Semaphore>) -> Self {
        self.gate = Some(Arc::clone(gate));
        self
    }

    /// Answer after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

#[derive(Debug, Default)]
struct Script {
    steps: Vec<Step>,
    next: usize,
    requests: Vec<Value>,
}

/// A scripted chat-completions server: answers the steps in order (then `script done`),
/// recording every request body. Each step may be held until the test releases it.
#[derive(Debug)]
pub struct MockModel {
    /// The bound address.
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl MockModel {
    /// Start serving `steps` on an ephemeral loopback port.
    pub async fn start(steps: Vec<Step>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            steps,
            ..Script::default()
        }));
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            script,
            _stop: stop,
        }
    }

    /// `http://addr` (no `/v1`).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Poll until `n` requests have arrived (yielding, never sleeping).
    pub async fn wait_requests(&self, n: usize) {
        while self.requests().len() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.script.lock().unwrap().requests.clone()
    }
}

async fn answer(State(script): State<Arc<Mutex<Script>>>, Json(body): Json<Value>) -> Json<Value> {
    let (step, n) = {
        let mut s = script.lock().unwrap();
        s.requests.push(body.clone());
        let step = s
            .steps
            .get(s.next)
            .cloned()
            .unwrap_or_else(|| Step::text("script done"));
        s.next += 1;
        (step, s.next)
    };
    if let Some(gate) = &step.gate {
        gate.acquire().await.unwrap().forget();
    }
    if let Some(d) = step.delay {
        tokio::time::sleep(d).await;
    }
    let finish = if step.message.get("tool_calls").is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    Json(json!({
        "id": format!("mock-{n}"),
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model").cloned().unwrap_or(Value::Null),
        "choices": [{ "index": 0, "message": step.message, "finish_reason": finish }],
        "usage": { "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2 }
    }))
}

/// A config whose model `m` is an `openai` deployment at `model_base` (no retries), with
/// `extra` explicit values (no file, no environment).
pub fn config(model_base: &str, extra: &[(&str, Value)]) -> Config {
    let mut loader = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set("mini_agent.model", "m")
        .set("codex_agent.max_retries", 0)
        .set(
            "model_list",
            json!([{ "model_name": "m", "provider": "openai", "api_base": model_base }]),
        );
    for (k, v) in extra {
        loader = loader.set(k, v.clone());
    }
    loader.load().unwrap()
}

/// Tool messages of a recorded request, as (tool_call_id, content).
pub fn tool_replies(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap_or("").to_string(),
                m["content"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// An agent for `config`, calling models through a router built from it.
pub async fn agent(config: Config) -> Agent {
    let config = Arc::new(config);
    let router = scillm_router::Router::new(config.clone()).unwrap();
    scillm_mini_agent::agent_from_config(&config, Arc::new(router)).await
}

/// Run `agent` on one user `task`.
pub async fn run(agent: &Agent, task: &str) -> AgentRun {
    agent
        .run(AgentRequest {
            messages: vec![scillm_core::wire::Message::user(task)],
            ..AgentRequest::default()
        })
        .await
        .unwrap()
}

/// Pids of processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}

/// A `sleep` duration no other process uses, to find it in `/proc`.
pub fn marker() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 1_000_000;
    format!("86{n:06}.5")
}

/// The names of the tools offered in a recorded request.
pub fn offered_tools(request: &Value) -> Vec<&str> {
    request["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect()
}
