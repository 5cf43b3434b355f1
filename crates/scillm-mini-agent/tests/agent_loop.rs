//! The agent loop, driven through the router by a scripted model server on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use scillm_mini_agent::StopReason;
use serde_json::{json, Value};
use support::{agent, config, run, tool_replies, MockModel, Step};

fn last_message(request: &Value) -> Value {
    request["messages"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_tool_result_reaches_the_model_and_its_final_answer() {
    let mock = MockModel::start(vec![
        Step::call("c1", "exec_python", json!({ "code": "print(6*7)" })),
        Step::text("The answer is 42."),
    ])
    .await;
    let agent = agent(config(&mock.base(), &[])).await;
    let out = run(&agent, "What is 6*7? Use Python.").await;

    assert_eq!(out.stopped_reason, StopReason::Success);
    assert!(out.ok);
    assert_eq!(out.iterations, 2);
    assert_eq!(out.final_answer, "The answer is 42.");
    assert_eq!(out.used_model, "m");
    assert_eq!(out.tool_invocations.len(), 1);
    assert!(out.tool_invocations[0].ok, "{:?}", out.tool_invocations[0]);

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    let names: Vec<&str> = reqs[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["exec_python", "exec_shell", "echo"]);
    assert_eq!(reqs[0]["tool_choice"], "auto");
    assert_eq!(reqs[0]["messages"][0]["role"], "system");
    // The model's second turn sees its call and the tool's result.
    let replies = tool_replies(&reqs[1]);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, "c1");
    let result: Value = serde_json::from_str(&replies[0].1).unwrap();
    assert_eq!(result["stdout"], "42\n");
    assert_eq!(result["exit_code"], 0);
    let assistant = &reqs[1]["messages"].as_array().unwrap()[2];
    assert_eq!(assistant["tool_calls"][0]["id"], "c1");
    // The whole transcript ends with the final answer.
    let last = out.messages.last().unwrap();
    assert_eq!(last.text_content(), "The answer is 42.");
}

#[tokio::test]
async fn two_tool_calls_in_one_turn_are_answered_in_call_order() {
    let mock = MockModel::start(vec![
        Step::calls(&[
            (
                "slow",
                "exec_python",
                &json!({ "code": "import time\ntime.sleep(0.5)\nprint('A')" }).to_string(),
            ),
            ("fast", "echo", &json!({ "text": "B" }).to_string()),
        ]),
        Step::text("A then B"),
    ])
    .await;
    let agent = agent(config(
        &mock.base(),
        &[("mini_agent.tool_concurrency", json!(2))],
    ))
    .await;
    let out = run(&agent, "two things").await;
    assert_eq!(out.stopped_reason, StopReason::Success);
    let replies = tool_replies(&mock.requests()[1]);
    let ids: Vec<&str> = replies.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, vec!["slow", "fast"]);
    assert!(replies[0].1.contains("A\\n"), "{}", replies[0].1);
    assert_eq!(replies[1].1, "B");
    let names: Vec<&str> = out
        .tool_invocations
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, vec!["exec_python", "echo"]);
}

#[tokio::test]
async fn failing_code_then_fixed_code_succeeds_with_one_repair_observation() {
    let mock = MockModel::start(vec![
        Step::call(
            "c1",
            "exec_python",
            json!({ "code": "raise ValueError('boom')" }),
        ),
        Step::call("c2", "exec_python", json!({ "code": "print('fixed')" })),
        Step::text("fixed it"),
    ])
    .await;
    let agent = agent(config(&mock.base(), &[])).await;
    let out = run(&agent, "run it").await;
    assert_eq!(out.stopped_reason, StopReason::Success);
    assert_eq!(out.repair_observations, 1);
    assert_eq!(out.iterations, 3);
    assert_eq!(out.final_answer, "fixed it");
    assert!(!out.tool_invocations[0].ok);
    assert!(out.tool_invocations[1].ok);

    let reqs = mock.requests();
    let obs = last_message(&reqs[1]);
    assert_eq!(obs["role"], "user");
    let text = obs["content"].as_str().unwrap();
    assert!(
        text.starts_with("Observation: 1 tool call(s) failed"),
        "{text}"
    );
    assert!(text.contains("boom") && text.contains("c1"), "{text}");
    // After the fix there is no new observation: the last message is the tool reply.
    assert_eq!(last_message(&reqs[2])["role"], "tool");
}

#[tokio::test]
async fn calls_beyond_the_cap_are_answered_with_an_error_reply() {
    let calls: Vec<(String, String)> = ["a", "b", "c"]
        .iter()
        .map(|id| (id.to_string(), json!({ "text": id }).to_string()))
        .collect();
    let calls: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|(id, args)| (id.as_str(), "echo", args.as_str()))
        .collect();
    let mock = MockModel::start(vec![Step::calls(&calls), Step::text("ok")]).await;
    let agent = agent(config(
        &mock.base(),
        &[("mini_agent.max_tools_per_iter", json!(2))],
    ))
    .await;
    let out = run(&agent, "three echoes").await;
    assert_eq!(out.stopped_reason, StopReason::Success);

    let replies = tool_replies(&mock.requests()[1]);
    let ids: Vec<&str> = replies.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["a", "b", "c"],
        "every call gets a reply, in order"
    );
    assert_eq!(replies[0].1, "a");
    assert_eq!(replies[1].1, "b");
    assert!(
        replies[2]
            .1
            .starts_with("error: not run: at most 2 tool calls"),
        "{}",
        replies[2].1
    );
    assert!(out.tool_invocations[2].dropped);
    assert!(!out.tool_invocations[1].dropped);
    assert_eq!(
        out.repair_observations, 0,
        "a dropped call is not a tool failure"
    );
}

#[tokio::test]
async fn non_json_arguments_are_recorded_raw_and_reported_to_the_model() {
    let mock = MockModel::start(vec![
        Step::calls(&[("x", "echo", "{BAD JSON]")]),
        Step::text("sorry"),
    ])
    .await;
    let agent = agent(config(&mock.base(), &[])).await;
    let out = run(&agent, "echo something").await;
    assert_eq!(out.stopped_reason, StopReason::Success);
    let inv = &out.tool_invocations[0];
    assert_eq!(inv.arguments, Value::Null);
    assert_eq!(inv.arguments_raw.as_deref(), Some("{BAD JSON]"));
    assert!(!inv.ok);
    let replies = tool_replies(&mock.requests()[1]);
    assert_eq!(replies[0].0, "x");
    assert!(
        replies[0].1.contains("not a JSON object"),
        "{}",
        replies[0].1
    );
    assert!(replies[0].1.contains("{BAD JSON]"), "{}", replies[0].1);
    assert_eq!(out.repair_observations, 1);
}

#[tokio::test]
async fn the_time_budget_stops_a_run() {
    let mock = MockModel::start(vec![Step::text("too late").after(Duration::from_secs(60))]).await;
    let agent = agent(config(&mock.base(), &[("mini_agent.budget_s", json!(0.5))])).await;
    let out = run(&agent, "slow").await;
    assert_eq!(out.stopped_reason, StopReason::Budget);
    assert!(!out.ok);
    assert_eq!(out.iterations, 0);
}

#[tokio::test]
async fn a_budget_that_runs_out_during_a_tool_still_answers_every_call() {
    let mock = MockModel::start(vec![Step::call(
        "t",
        "exec_python",
        json!({ "code": "import time\ntime.sleep(60)" }),
    )])
    .await;
    let cfg = config(
        &mock.base(),
        &[
            ("mini_agent.budget_s", json!(1.0)),
            ("mini_agent.tool_timeout_s", json!(60.0)),
        ],
    );
    let agent = agent(cfg).await;
    let out = run(&agent, "sleep").await;
    assert_eq!(out.stopped_reason, StopReason::Budget);
    let last = out.messages.last().unwrap();
    assert_eq!(last.tool_call_id.as_deref(), Some("t"));
    assert!(last.text_content().contains("time budget"));
}

#[tokio::test]
async fn max_iterations_stops_a_run_that_keeps_calling_tools() {
    let mock = MockModel::start(vec![
        Step::call("1", "echo", json!({ "text": "one" })),
        Step::call("2", "echo", json!({ "text": "two" })),
        Step::call("3", "echo", json!({ "text": "three" })),
    ])
    .await;
    let agent = agent(config(&mock.base(), &[])).await;
    let out = run(&agent, "loop").await;
    assert_eq!(out.stopped_reason, StopReason::MaxIterations);
    assert_eq!(out.iterations, 3, "the default max_iterations is 3");
    assert_eq!(mock.requests().len(), 3);
    assert!(!out.ok);
}

#[tokio::test]
async fn a_fenced_python_block_is_auto_run_when_enabled() {
    let mock = MockModel::start(vec![
        Step::text("Let me compute:\n```python\nprint(2+2)\n```"),
        Step::text("It is 4."),
    ])
    .await;
    let agent = agent(config(
        &mock.base(),
        &[("mini_agent.auto_run_code", json!(true))],
    ))
    .await;
    let out = run(&agent, "2+2?").await;
    assert_eq!(out.stopped_reason, StopReason::Success);
    assert_eq!(out.final_answer, "It is 4.");
    assert!(out.tool_invocations[0].auto && out.tool_invocations[0].ok);
    let obs = last_message(&mock.requests()[1]);
    assert!(obs["content"].as_str().unwrap().contains("4\\n"), "{obs}");
}

#[tokio::test]
async fn without_auto_run_a_code_block_is_the_final_answer() {
    let mock = MockModel::start(vec![Step::text("```python\nprint(1)\n```")]).await;
    let agent = agent(config(&mock.base(), &[])).await;
    let out = run(&agent, "code please").await;
    assert_eq!(out.stopped_reason, StopReason::Success);
    assert!(out.tool_invocations.is_empty());
}

#[tokio::test]
async fn history_is_pruned_but_keeps_the_system_message_the_task_and_the_last_tool_pair() {
    let mock = MockModel::start(vec![
        Step::call("big", "echo", json!({ "text": "x".repeat(4000) })),
        Step::call("small", "echo", json!({ "text": "tiny" })),
        Step::text("done"),
    ])
    .await;
    let agent = agent(config(
        &mock.base(),
        &[("mini_agent.history_char_budget", json!(1500))],
    ))
    .await;
    let out = run(&agent, "prune").await;
    assert_eq!(out.stopped_reason, StopReason::Success);
    let third = &mock.requests()[2];
    let ids: Vec<String> = tool_replies(third).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, vec!["small"]);
    assert_eq!(third["messages"][0]["role"], "system");
    assert_eq!(third["messages"][1]["role"], "user");
    assert_eq!(
        third["messages"][1]["content"], "prune",
        "the task was pruned"
    );
    assert!(!third.to_string().contains(&"x".repeat(4000)));
    // The transcript itself is never pruned.
    assert!(out
        .messages
        .iter()
        .any(|m| m.tool_call_id.as_deref() == Some("big")));
}

#[tokio::test]
async fn an_unknown_tool_gets_an_error_reply_listing_the_tools() {
    let mock = MockModel::start(vec![
        Step::call("u", "rm_everything", json!({})),
        Step::text("ok"),
    ])
    .await;
    let agent = agent(config(&mock.base(), &[])).await;
    let out = run(&agent, "x").await;
    let replies = tool_replies(&mock.requests()[1]);
    assert!(
        replies[0].1.contains("unknown tool `rm_everything`"),
        "{}",
        replies[0].1
    );
    assert!(replies[0].1.contains("exec_python"));
    assert_eq!(out.stopped_reason, StopReason::Success);
}
