//! The hand-written app-server protocol types against the JSON schema the pinned Codex CLI
//! generates (`codex app-server generate-json-schema`): every message the sidecar sends is
//! valid, every method and notification it uses exists, every field it reads is in the
//! schema, and its declines are valid answers. A CLI whose protocol changes fails here.
#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sidecar_support;

use std::path::Path;

use scillm_provider_codex::sidecar::app_server::protocol::{
    self, method, notification, ClientInfo, InitializeParams, ThreadStartParams,
    ThreadUnsubscribeParams, TurnInterruptParams, TurnStartParams, UserInput,
};
use serde_json::{json, Value};
use sidecar_support::*;

fn load(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{name} missing from the generated schema: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not valid: {errors:?}\n{instance}"
    );
}

/// The `enum` values of `method` across a `oneOf` message schema.
fn methods(schema: &Value) -> Vec<String> {
    schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["properties"]["method"]["enum"][0].as_str())
        .map(String::from)
        .collect()
}

/// The properties of definition `name` (or of the `ThreadItem` variant whose `type` is `name`).
fn props(defs: &Value, name: &str) -> Vec<String> {
    let def = defs.get(name).cloned().unwrap_or_else(|| {
        defs["ThreadItem"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["properties"]["type"]["enum"][0] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no definition or thread item `{name}`"))
    });
    def["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("`{name}` has no properties"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn hand_written_protocol_matches_the_pinned_cli() {
    let Some(codex) = real_codex() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(&codex)
        .args(["app-server", "generate-json-schema", "--out"])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success(), "generate-json-schema failed");
    let dir = out.path();

    // Every request sent is a valid ClientRequest.
    let client_requests = load(dir, "ClientRequest.json");
    let schema_value = json!({"type": "object", "additionalProperties": false,
        "properties": {"a": {"type": "string"}}, "required": ["a"]});
    let sent = [
        (
            method::INITIALIZE,
            serde_json::to_value(InitializeParams {
                client_info: ClientInfo {
                    name: "scillm".into(),
                    version: "0.1.0".into(),
                },
            })
            .unwrap(),
        ),
        (
            method::THREAD_START,
            serde_json::to_value(ThreadStartParams {
                ephemeral: true,
                sandbox: "read-only".into(),
                approval_policy: "never".into(),
                cwd: "/tmp".into(),
                model: Some("gpt-5".into()),
            })
            .unwrap(),
        ),
        (
            method::TURN_START,
            serde_json::to_value(TurnStartParams {
                thread_id: "t".into(),
                input: vec![
                    UserInput::Text { text: "hi".into() },
                    UserInput::LocalImage {
                        path: "/tmp/a.png".into(),
                    },
                ],
                model: Some("gpt-5".into()),
                effort: Some("high".into()),
                output_schema: Some(schema_value),
            })
            .unwrap(),
        ),
        (
            method::TURN_INTERRUPT,
            serde_json::to_value(TurnInterruptParams {
                thread_id: "t".into(),
                turn_id: "u".into(),
            })
            .unwrap(),
        ),
        (
            method::THREAD_UNSUBSCRIBE,
            serde_json::to_value(ThreadUnsubscribeParams {
                thread_id: "t".into(),
            })
            .unwrap(),
        ),
    ];
    for (i, (m, params)) in sent.into_iter().enumerate() {
        let msg = json!({"id": i, "method": m, "params": params});
        assert_valid(&client_requests, &msg, m);
    }
    assert!(
        methods(&load(dir, "ClientNotification.json")).contains(&method::INITIALIZED.to_string())
    );

    // Every notification read exists; every declined server request exists and its
    // decline is a valid response.
    let server_notes = methods(&load(dir, "ServerNotification.json"));
    for n in notification::ALL {
        assert!(
            server_notes.contains(&n.to_string()),
            "notification {n} is gone"
        );
    }
    let server_requests = methods(&load(dir, "ServerRequest.json"));
    let responses = [
        (
            "item/commandExecution/requestApproval",
            "CommandExecutionRequestApprovalResponse.json",
        ),
        (
            "item/fileChange/requestApproval",
            "FileChangeRequestApprovalResponse.json",
        ),
        ("execCommandApproval", "ExecCommandApprovalResponse.json"),
        ("applyPatchApproval", "ApplyPatchApprovalResponse.json"),
        (
            "item/tool/requestUserInput",
            "ToolRequestUserInputResponse.json",
        ),
        (
            "mcpServer/elicitation/request",
            "McpServerElicitationRequestResponse.json",
        ),
    ];
    assert_eq!(responses.len(), protocol::DECLINED_REQUESTS.len());
    for (m, file) in responses {
        assert!(
            server_requests.contains(&m.to_string()),
            "server request {m} is gone"
        );
        let answer = protocol::decline(m).unwrap();
        assert_valid(&load(dir, file), &answer, m);
    }

    // Every field read is in the schema.
    let bundle = load(dir, "codex_app_server_protocol.v2.schemas.json");
    let defs = &bundle["definitions"];
    let v1 = load(dir, "v1/InitializeResponse.json");
    assert!(v1["properties"].get("userAgent").is_some());
    for (def, fields) in [
        ("ThreadStartResponse", &["thread"][..]),
        ("Thread", &["id", "cliVersion"]),
        ("TurnStartResponse", &["turn"]),
        ("Turn", &["id", "status", "error"]),
        ("TurnError", &["message"]),
        ("TurnCompletedNotification", &["threadId", "turn"]),
        ("ErrorNotification", &["threadId", "error", "willRetry"]),
        ("ItemStartedNotification", &["threadId", "item"]),
        ("ItemCompletedNotification", &["threadId", "item"]),
        (
            "AgentMessageDeltaNotification",
            &["threadId", "itemId", "delta"],
        ),
        (
            "ReasoningSummaryTextDeltaNotification",
            &["threadId", "itemId", "delta"],
        ),
        (
            "ReasoningTextDeltaNotification",
            &["threadId", "itemId", "delta"],
        ),
        (
            "ThreadTokenUsageUpdatedNotification",
            &["threadId", "tokenUsage"],
        ),
        ("ThreadTokenUsage", &["total"]),
        (
            "TokenUsageBreakdown",
            &[
                "inputTokens",
                "cachedInputTokens",
                "outputTokens",
                "reasoningOutputTokens",
                "totalTokens",
            ],
        ),
        ("AccountRateLimitsUpdatedNotification", &["rateLimits"]),
        ("RateLimitSnapshot", &["primary", "secondary"]),
        ("RateLimitWindow", &["usedPercent", "resetsAt"]),
        ("agentMessage", &["id", "text", "phase"]),
        ("reasoning", &["id", "summary", "content"]),
    ] {
        let have = props(defs, def);
        for f in fields {
            assert!(
                have.contains(&f.to_string()),
                "{def}.{f} is gone (has {have:?})"
            );
        }
    }
    let phases: Vec<&str> = defs["MessagePhase"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["enum"][0].as_str())
        .collect();
    assert!(
        phases.contains(&"commentary") && phases.contains(&"final_answer"),
        "{phases:?}"
    );
    let statuses = &defs["TurnStatus"]["enum"];
    for s in ["completed", "failed", "interrupted"] {
        assert!(
            statuses.as_array().unwrap().contains(&json!(s)),
            "{statuses}"
        );
    }
}
