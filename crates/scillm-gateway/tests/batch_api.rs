//! The Batch API over HTTP: upload, create, poll, output and error files in input order,
//! cancel, bad input files, and a batch that survives a gateway restart with every
//! custom_id answered exactly once; one gateway per data_dir.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use scillm_gateway::spawn;
use scillm_testkit::chat_mock::ChatMock;
use serde_json::{json, Value};
use support::*;

fn jsonl(n: usize, model_of: impl Fn(usize) -> &'static str) -> String {
    (0..n)
        .map(|i| {
            json!({"custom_id": format!("req-{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": model_of(i), "messages": [{"role": "user", "content": format!("line {i}")}]}})
            .to_string()
                + "\n"
        })
        .collect()
}

async fn upload(base: &str, content: &str) -> Value {
    let boundary = "scillmboundary42";
    let body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\ncontent-type: application/jsonl\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/files"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn create(base: &str, file_id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/v1/batches"))
        .json(&json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}))
        .send()
        .await
        .unwrap()
}

async fn get(base: &str, path: &str) -> reqwest::Response {
    reqwest::get(format!("{base}{path}")).await.unwrap()
}

async fn wait_status(base: &str, id: &str, done: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let b: Value = get(base, &format!("/v1/batches/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if done.contains(&b["status"].as_str().unwrap()) {
            return b;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "batch stuck: {b}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lines of the file whose id is `id`.
async fn file_lines(base: &str, id: &Value) -> Vec<Value> {
    let resp = get(base, &format!("/v1/files/{}/content", id.as_str().unwrap())).await;
    assert_eq!(resp.status(), 200);
    lines(&resp.text().await.unwrap())
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_batch_runs_to_output_and_error_files() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = spawn(config(&up, dir.path(), &[])).await.unwrap();
    let base = gw.base_url();
    let file = upload(
        &base,
        &jsonl(30, |i| match i % 10 {
            3 => "nope",
            7 => "limited",
            _ => "alpha",
        }),
    )
    .await;
    assert_eq!(file["purpose"], "batch");
    let resp = create(&base, file["id"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 200);
    let batch: Value = resp.json().await.unwrap();
    assert_eq!(batch["object"], "batch");
    assert_eq!(batch["request_counts"]["total"], 30);
    let id = batch["id"].as_str().unwrap();
    let done = wait_status(&base, id, &["completed"]).await;
    assert_eq!(
        done["request_counts"],
        json!({"total": 30, "completed": 24, "failed": 6})
    );

    let out = file_lines(&base, &done["output_file_id"]).await;
    assert_eq!(out.len(), 24);
    let ids: Vec<&str> = out
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..30)
        .filter(|i| i % 10 != 3 && i % 10 != 7)
        .map(|i| format!("req-{i}"))
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(out[0]["response"]["status_code"], 200);
    assert_eq!(
        out[0]["response"]["body"]["choices"][0]["message"]["content"],
        "from alpha"
    );
    assert_eq!(out[0]["scillm_router"]["error_type"], "ok");
    assert!(out[0]["response"]["body"].get("scillm_router").is_none());

    let errs = file_lines(&base, &done["error_file_id"]).await;
    let status: HashMap<&str, u64> = errs
        .iter()
        .map(|l| {
            (
                l["custom_id"].as_str().unwrap(),
                l["response"]["status_code"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(status["req-3"], 404);
    assert_eq!(status["req-7"], 429);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_files_and_unknown_ids_are_refused() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = spawn(config(&up, dir.path(), &[])).await.unwrap();
    let base = gw.base_url();
    let dup = jsonl(2, |_| "alpha").replace("req-1", "req-0");
    let file = upload(&base, &dup).await;
    let resp = create(&base, file["id"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 400);
    let msg = resp.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("line 2") && msg.contains("used twice"),
        "{msg}"
    );
    let file = upload(&base, "not json\n").await;
    assert_eq!(
        create(&base, file["id"].as_str().unwrap()).await.status(),
        400
    );
    assert_eq!(create(&base, "file-missing").await.status(), 404);
    assert_eq!(get(&base, "/v1/batches/batch_missing").await.status(), 404);
    assert_eq!(get(&base, "/v1/files/..%2Fx/content").await.status(), 404);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_cancelled_batch_keeps_what_finished() {
    let slow = ChatMock::builder()
        .latency(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &up,
        dir.path(),
        &[
            (
                "model_list",
                json!([{"model_name": "alpha", "provider": "openai", "api_base": slow.base_url(), "api_key": "k"}]),
            ),
            ("gateway.batch_concurrency", json!(2)),
        ],
    );
    let gw = spawn(config).await.unwrap();
    let base = gw.base_url();
    let file = upload(&base, &jsonl(40, |_| "alpha")).await;
    let batch: Value = create(&base, file["id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let id = batch["id"].as_str().unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/batches/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let done = wait_status(&base, id, &["cancelled"]).await;
    let finished = done["request_counts"]["completed"].as_u64().unwrap();
    assert!(finished < 40, "{done}");
    assert_eq!(
        file_lines(&base, &done["output_file_id"]).await.len() as u64,
        finished
    );
    // N lines in, N lines out: the lines that never ran are in the error file.
    let errs = file_lines(&base, &done["error_file_id"]).await;
    assert_eq!(finished + errs.len() as u64, 40);
    assert!(errs
        .iter()
        .any(|l| l["error"]["code"] == "batch_cancelled" && l["response"].is_null()));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_batch_resumes_after_a_restart_with_every_custom_id_once() {
    let slow = ChatMock::builder()
        .latency(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &up,
        dir.path(),
        &[
            (
                "model_list",
                json!([{"model_name": "alpha", "provider": "openai", "api_base": slow.base_url(), "api_key": "k"}]),
            ),
            ("gateway.batch_concurrency", json!(4)),
        ],
    );
    let gw = spawn(config.clone()).await.unwrap();
    let base = gw.base_url();
    let file = upload(&base, &jsonl(200, |_| "alpha")).await;
    let batch: Value = create(&base, file["id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let id = batch["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let b: Value = get(&base, &format!("/v1/batches/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if b["request_counts"]["completed"].as_u64().unwrap() >= 20 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.shutdown().await.unwrap();
    let stopped: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(format!("batches/{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(stopped["status"], "in_progress");
    let before = slow.request_count();
    assert!(before < 200, "the batch finished before the restart");

    let gw = spawn(config).await.unwrap();
    let base = gw.base_url();
    let done = wait_status(&base, &id, &["completed"]).await;
    assert_eq!(
        done["request_counts"],
        json!({"total": 200, "completed": 200, "failed": 0})
    );
    let out = file_lines(&base, &done["output_file_id"]).await;
    let ids: Vec<String> = out
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..200).map(|i| format!("req-{i}")).collect();
    assert_eq!(ids, expected);
    // Lines journaled before the restart (at least 20) were not sent again.
    let after = slow.request_count() - before;
    assert!(after <= 180, "{after} upstream calls after the restart");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_gateway_on_a_data_dir_in_use_is_refused_until_the_first_stops() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(&up, &data, &[]);
    // The first gateway creates and locks the directory as it starts.
    let first = spawn(config.clone()).await.unwrap();
    assert!(data.join(".lock").is_file());
    let file = upload(&first.base_url(), &jsonl(2, |_| "alpha")).await;

    // A second one on the same directory: a configuration error (exit 2 in the CLI).
    let err = spawn(config.clone()).await.unwrap_err();
    assert!(
        matches!(err, scillm_gateway::GatewayError::DataDirInUse { .. }),
        "{err}"
    );
    assert!(err.is_config());
    let message = err.to_string();
    assert!(message.contains(&data.display().to_string()), "{message}");
    assert!(message.contains("own data_dir"), "{message}");

    // Released when the first stops: the next gateway takes the directory and its files.
    first.shutdown().await.unwrap();
    let next = spawn(config).await.unwrap();
    let listed: Value = get(&next.base_url(), "/v1/files")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], file["id"], "{listed}");
    next.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_created_is_a_configuration_error_naming_it() {
    let up = upstreams().await;
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let data = blocker.join("data");
    let err = spawn(config(&up, &data, &[])).await.unwrap_err();
    assert!(
        matches!(err, scillm_gateway::GatewayError::DataDir { .. }),
        "{err}"
    );
    assert!(err.is_config());
    assert!(
        err.to_string().contains(&data.display().to_string()),
        "{err}"
    );
}
