//! The `mini-agent` provider: a router deployment that runs the agent in-process.

#![cfg(feature = "mini-agent")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use futures::StreamExt;
use scillm_core::config::ConfigLoader;
use scillm_core::wire::{ChatRequest, Message};
use scillm_core::ErrorKind;
use scillm_router::Router;
use serde_json::json;
use support::{MockModel, Step};

fn router(model_base: &str, mini_agent_model: &str, agent_model: Option<&str>) -> Router {
    let mut agent = json!({ "model_name": "agent", "provider": "mini_agent" });
    if let Some(m) = agent_model {
        agent["model"] = json!(m);
    }
    let cfg = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set("mini_agent.model", mini_agent_model)
        .set("codex_agent.max_retries", 0)
        .set(
            "model_list",
            json!([{ "model_name": "m", "provider": "openai", "api_base": model_base }, agent]),
        )
        .load()
        .unwrap();
    Router::new(Arc::new(cfg)).unwrap()
}

#[tokio::test]
async fn a_router_runs_the_agent_in_process() {
    assert_eq!(
        scillm_core::registry::find("mini_agent").unwrap().name,
        "mini-agent"
    );
    let mock = MockModel::start(vec![
        Step::call("c", "echo", json!({ "text": "hi" })),
        Step::text("agent says hi"),
    ])
    .await;
    let router = router(&mock.base(), "m", None);
    let resp = router
        .chat(ChatRequest::new("agent", vec![Message::user("greet")]))
        .await
        .unwrap();
    assert_eq!(resp.first_text(), "agent says hi");
    assert_eq!(resp.extra["mini_agent"]["stopped_reason"], "success");
    assert_eq!(resp.extra["mini_agent"]["used_model"], "m");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["model"], "m");
}

#[tokio::test]
async fn the_deployment_model_is_what_the_agent_drives_and_streams_work() {
    let mock = MockModel::start(vec![Step::text("streamed")]).await;
    let router = router(&mock.base(), "agent", Some("m"));
    let mut stream = router
        .chat_stream(ChatRequest::new("agent", vec![Message::user("go")]))
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk.unwrap().choices[0].delta.text_str());
    }
    assert_eq!(text, "streamed");
    assert_eq!(mock.requests()[0]["model"], "m");
}

#[tokio::test]
async fn the_agent_never_drives_itself() {
    let mock = MockModel::start(vec![]).await;
    let router = router(&mock.base(), "agent", None);
    let err = router
        .chat(ChatRequest::new("agent", vec![Message::user("loop?")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest, "{err}");
    assert!(err.message.contains("mini_agent.model"), "{err}");
    assert!(mock.requests().is_empty());
}
