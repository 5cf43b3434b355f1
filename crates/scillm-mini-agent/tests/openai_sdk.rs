//! The official OpenAI Python SDK against the shim: a completion (with the agent's
//! details), the model list, a streamed run with its progress events, and an error mapped
//! to the SDK's error class.
//!
//! Needs `SCILLM_TEST_PYTHON` (a python with `openai` installed). When it is unset the test
//! is skipped, unless `SCILLM_REQUIRE_EXTERNAL=1`, which makes it fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod support;

use std::sync::Arc;

use serde_json::{json, Value};
use support::{config, MockModel, Step};

const SCRIPT: &str = r#"
import json, sys
import openai
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", max_retries=0)
resp = client.chat.completions.create(
    model="mini-agent",
    messages=[{"role": "user", "content": "What is 6*7? Use Python."}],
)
models = [m.id for m in client.models.list().data]
streamed, events = "", []
for chunk in client.chat.completions.create(
    model="mini-agent",
    messages=[{"role": "user", "content": "Echo pong, streaming."}],
    stream=True,
):
    extra = (chunk.model_extra or {}).get("mini_agent") or {}
    if "event" in extra:
        events.append(extra["event"]["type"])
    if chunk.choices and chunk.choices[0].delta.content:
        streamed += chunk.choices[0].delta.content
try:
    client.chat.completions.create(model="mini-agent", messages=[])
    error = "none"
except openai.BadRequestError as e:
    error = "BadRequestError %d" % e.status_code
print(json.dumps({
    "content": resp.choices[0].message.content,
    "finish_reason": resp.choices[0].finish_reason,
    "mini_agent": (resp.model_extra or {}).get("mini_agent"),
    "models": models,
    "streamed": streamed,
    "events": events,
    "error": error,
}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_sdk_gets_a_completion_from_the_shim() {
    let Some(python) =
        scillm_testkit::external("SCILLM_TEST_PYTHON", "a python with the `openai` package")
    else {
        return;
    };
    let mock = MockModel::start(vec![
        Step::call("c1", "exec_python", json!({ "code": "print(6*7)" })),
        Step::text("6*7 = 42"),
        Step::call("c2", "echo", json!({ "text": "pong" })),
        Step::text("streamed pong"),
    ])
    .await;
    let cfg = Arc::new(config(&mock.base(), &[("mini_agent.port", json!(0))]));
    let shim = scillm_mini_agent::spawn(cfg).await.unwrap();

    let out = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(shim.base())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(got["content"], "6*7 = 42");
    assert_eq!(got["finish_reason"], "stop");
    assert_eq!(got["mini_agent"]["stopped_reason"], "success");
    assert_eq!(got["mini_agent"]["iterations"], 2);
    assert_eq!(
        got["mini_agent"]["tool_invocations"][0]["name"],
        "exec_python"
    );
    assert_eq!(got["models"][0], "mini-agent");
    assert_eq!(got["streamed"], "streamed pong");
    assert_eq!(
        got["events"],
        json!(["model_call", "tool_call", "tool_result", "model_call"])
    );
    assert_eq!(got["error"], "BadRequestError 400");
    shim.shutdown().await.unwrap();
}
