//! The upstream-shapes corpus (SPEC §11): answers as vLLM, Ollama, llama.cpp, LM Studio,
//! OpenRouter, Groq, Fireworks, SambaNova, TGI, OpenVINO, Azure, LiteLLM, DeepSeek,
//! Mistral and Together send them, one file each under `tests/upstream_shapes/` (`.json`
//! a complete answer, `.sse` a stream), expectations in `upstream_shapes_expected.json`.
//!
//! Every file is served verbatim by a loopback mock and run four ways: the non-stream
//! path, the stream path, and both again through a codex sidecar in forward mode. Each
//! run asserts content, usage, tool-call count and `error_type`; the stream and
//! non-stream runs must agree on `error_type`, `error_kind` and `status`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use scillm_core::config::ConfigLoader;
use scillm_provider_codex::sidecar;
use scillm_router::{ParallelOptions, Router, RouterResult};
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::{json, Value};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/upstream_shapes")
}

fn expectations() -> serde_json::Map<String, Value> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/upstream_shapes_expected.json");
    match serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap() {
        Value::Object(m) => m,
        other => panic!("expectations must be an object, not {other}"),
    }
}

fn router() -> Router {
    let config = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set("codex_agent.max_retries", 0)
        .set("router.num_retries", 0)
        .load()
        .unwrap();
    Router::new(Arc::new(config)).unwrap()
}

async fn run(router: &Router, base: &str, stream: bool) -> RouterResult {
    let item = json!({
        "model": "corpus-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
        "custom_llm_provider": "openai",
        "api_base": base,
    });
    router
        .parallel(vec![item], ParallelOptions::new())
        .await
        .remove(0)
}

/// What a run is expected to give.
#[derive(Debug, Clone)]
struct Expect {
    content: String,
    usage: Value,
    error_type: String,
    error_kind: Value,
    status: Value,
    tool_calls: usize,
}

impl Expect {
    fn direct(e: &Value) -> Self {
        Self {
            content: e["content"].as_str().unwrap().to_string(),
            usage: e["usage"].clone(),
            error_type: e["error_type"].as_str().unwrap().to_string(),
            error_kind: e.get("error_kind").cloned().unwrap_or(Value::Null),
            status: e.get("status").cloned().unwrap_or(Value::Null),
            tool_calls: e.get("tool_calls").and_then(Value::as_u64).unwrap_or(0) as usize,
        }
    }

    /// Through the sidecar (§11): an upstream 401/403 is answered 502 (so the client sees
    /// a server error), every server-side failure is 502, client errors pass as they are.
    fn forwarded(&self) -> Self {
        let mut out = self.clone();
        match self.error_kind.as_str() {
            None => {}
            Some("bad_request" | "rate_limited" | "not_found") => {}
            Some(_) => {
                out.error_kind = json!("server");
                out.status = json!(502);
            }
        }
        out
    }
}

fn check(name: &str, how: &str, r: &RouterResult, want: &Expect) {
    let v = r.to_value();
    let meta = &v["scillm_router"];
    let ctx = format!("{name} ({how}): {meta}");
    assert_eq!(meta["error_type"], json!(want.error_type), "{ctx}");
    assert_eq!(meta["error_kind"], want.error_kind, "{ctx}");
    assert_eq!(meta["status"], want.status, "{ctx}");
    assert_eq!(r.content(), want.content, "{ctx}");
    assert_eq!(
        r.response.first_tool_calls().len(),
        want.tool_calls,
        "{ctx}"
    );
    for call in r.response.first_tool_calls() {
        serde_json::from_str::<Value>(&call.function.arguments)
            .unwrap_or_else(|e| panic!("{ctx}: tool arguments are not JSON ({e})"));
    }
    let usage = r
        .response
        .usage
        .as_ref()
        .map(|u| json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens}))
        .unwrap_or(Value::Null);
    assert_eq!(usage, want.usage, "{ctx}: usage");
}

fn same_failure(name: &str, a: &RouterResult, b: &RouterResult) {
    let (a, b) = (&a.meta, &b.meta);
    assert_eq!(
        (a.error_type, a.error_kind, a.status),
        (b.error_type, b.error_kind, b.status),
        "{name}: stream and non-stream disagree"
    );
}

#[tokio::test]
async fn every_upstream_shape_reads_the_same_on_every_path() {
    let expected = expectations();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus has {} files", files.len());
    assert_eq!(
        files.len(),
        expected.len(),
        "every file needs an expectation"
    );
    let router = router();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let want = Expect::direct(
            expected
                .get(&name)
                .unwrap_or_else(|| panic!("{name} has no expectation")),
        );
        let status = expected[&name]
            .get("reply_status")
            .and_then(Value::as_u64)
            .unwrap_or(200) as u16;
        let content_type = if name.ends_with(".sse") {
            "text/event-stream"
        } else {
            "application/json"
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let reply = MockReply::raw(status, text).with_header("content-type", content_type);
        let mock = ChatMock::builder()
            .respond_with(move |_| reply.clone())
            .start()
            .await
            .unwrap();
        let base = mock.base_url();

        let plain = run(&router, &base, false).await;
        check(&name, "non-stream", &plain, &want);
        let streamed = run(&router, &base, true).await;
        check(&name, "stream", &streamed, &want);
        same_failure(&name, &plain, &streamed);

        let sidecar_config = ConfigLoader::new()
            .no_file()
            .env_from(Vec::<(String, String)>::new())
            .set("sidecar.forward_base", base.clone())
            .load()
            .unwrap();
        let sc = sidecar::spawn(Arc::new(sidecar_config)).await.unwrap();
        let via = sc.base().to_string();
        let forwarded = want.forwarded();
        let plain_fw = run(&router, &via, false).await;
        check(&name, "forward non-stream", &plain_fw, &forwarded);
        let streamed_fw = run(&router, &via, true).await;
        check(&name, "forward stream", &streamed_fw, &forwarded);
        same_failure(&name, &plain_fw, &streamed_fw);
        sc.shutdown().await.unwrap();
        assert_eq!(mock.request_count(), 4, "{name}: one upstream call per run");
    }
}

/// The codex sidecar's own failures, as it answers them: a complete request gets the HTTP
/// error, a streamed one a 200 whose first event is the same error body. Both must read
/// as the same failure (SPEC §11), for a failed CLI (502) and a timed-out one (504).
#[tokio::test]
async fn a_codex_failure_reads_the_same_streamed_or_not() {
    let router = router();
    for (status, kind, code) in [
        (502u16, "upstream_error", "codex_failed"),
        (504, "timeout_error", "timeout"),
    ] {
        let body =
            json!({"error": {"message": "codex exited 1: boom", "type": kind, "code": code}});
        let event = format!("data: {body}\n\n");
        let mock = ChatMock::builder()
            .respond_with(move |req| {
                if req.body.get("stream").and_then(Value::as_bool) == Some(true) {
                    MockReply::raw(200, event.clone())
                        .with_header("content-type", "text/event-stream")
                } else {
                    MockReply::raw(status, body.to_string())
                        .with_header("content-type", "application/json")
                }
            })
            .start()
            .await
            .unwrap();
        let plain = run(&router, &mock.base_url(), false).await;
        let streamed = run(&router, &mock.base_url(), true).await;
        same_failure(kind, &plain, &streamed);
        assert_eq!(plain.meta.status, Some(status), "{}", plain.to_value());
        assert_eq!(
            plain.meta.error_kind,
            Some(scillm_core::ErrorKind::Server),
            "{}",
            plain.to_value()
        );
        assert!(streamed
            .meta
            .exception
            .as_deref()
            .unwrap_or_default()
            .contains("boom"));
    }
}

/// Every corpus answer that takes the fast reading reads as the lenient reading does, and
/// the answers already in OpenAI's shape do take it (SPEC §11).
#[test]
fn the_fast_reading_agrees_with_the_lenient_one_on_the_corpus() {
    use scillm_core::upstream::{canonical_completion, completion_from_value};
    let mut fast = Vec::new();
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let Some(f) = canonical_completion(&body) else {
            continue;
        };
        let value: Value = serde_json::from_slice(&body).unwrap();
        let lenient = completion_from_value(200, value, &body)
            .unwrap_or_else(|e| panic!("{}: fast read but lenient failed: {e}", path.display()));
        assert_eq!(f, lenient, "{}", path.display());
        fast.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(
        fast.len() >= 5,
        "the answers in OpenAI's shape should take the fast reading; only {fast:?} did"
    );
}
