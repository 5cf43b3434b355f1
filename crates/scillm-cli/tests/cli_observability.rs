//! Watching `scillm batch` (SPEC §16) through the real binary: OTLP spans for a
//! gateway-less item through the openai provider, in the trace of `TRACEPARENT`, with the
//! same trace sent upstream; and `--metrics-addr` serving `/metrics` while the batch runs,
//! counting a known mix by label.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod batch_support;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_support::{read_results, scillm, write_lines};
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use scillm_testkit::otlp::OtlpReceiver;
use scillm_testkit::prometheus::{self, Sample};
use serde_json::json;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_batch_item_through_openai_exports_a_genai_client_span_in_the_inbound_trace() {
    let rt = runtime();
    let receiver = rt.block_on(OtlpReceiver::start()).unwrap();
    let answer = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
        "model": "gpt-test-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    });
    let mock = rt
        .block_on(
            ChatMock::builder()
                .then(MockReply {
                    body: Some(answer),
                    ..MockReply::ok("")
                })
                .start(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    write_lines(
        &input,
        &[
            json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
        ],
    );
    let out = scillm()
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .args(["--provider", "openai", "--api-base", &mock.base_url()])
        .arg("--no-progress")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("OTEL_SERVICE_NAME", "scillm-batch-test")
        .env("TRACEPARENT", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let results = read_results(&output);
    assert_eq!(
        results[0]["scillm_router"]["error_type"], "ok",
        "{results:?}"
    );

    let chat = rt
        .block_on(receiver.wait_for(Duration::from_secs(10), |s| s.name == "chat gpt-test"))
        .unwrap_or_else(|| panic!("no `chat gpt-test` span; got {:?}", receiver.spans()));
    assert_eq!(chat.kind, 3, "a client span");
    assert_eq!(chat.trace_id, TRACE_ID, "the inbound trace continues");
    assert_eq!(chat.service_name.as_deref(), Some("scillm-batch-test"));
    let attr = |k: &str| chat.attributes.get(k).cloned();
    assert_eq!(attr("gen_ai.operation.name"), Some("chat".into()));
    assert_eq!(attr("gen_ai.provider.name"), Some("openai".into()));
    assert_eq!(attr("gen_ai.request.model"), Some("gpt-test".into()));
    assert_eq!(
        attr("gen_ai.response.model"),
        Some("gpt-test-2024-07-18".into())
    );
    assert_eq!(attr("gen_ai.usage.input_tokens"), Some(12.into()));
    assert_eq!(attr("gen_ai.usage.output_tokens"), Some(3.into()));
    assert_eq!(attr("error.type"), None, "a success has no error.type");

    // batch (child of TRACEPARENT) → router item → chat.
    let spans = receiver.spans();
    let item = spans
        .iter()
        .find(|s| s.name == "router item")
        .unwrap_or_else(|| panic!("no router item span: {spans:?}"));
    assert_eq!(chat.parent_span_id, item.span_id);
    assert_eq!(
        item.attributes.get("deployment"),
        Some(&"direct:openai".into())
    );
    assert_eq!(item.attributes.get("error_type"), Some(&"ok".into()));
    let batch = spans.iter().find(|s| s.name == "batch").unwrap();
    assert_eq!(item.parent_span_id, batch.span_id);
    assert_eq!(batch.parent_span_id, PARENT_ID);
    assert_eq!(batch.trace_id, TRACE_ID);

    // The upstream got the chat span's context.
    let sent = mock.requests();
    let traceparent = sent[0]
        .header("traceparent")
        .expect("traceparent sent upstream");
    assert_eq!(
        traceparent,
        format!("00-{TRACE_ID}-{}-01", chat.span_id),
        "the upstream call carries the chat span as its parent"
    );
}

#[test]
fn the_codex_agent_client_sends_its_chat_span_as_traceparent() {
    let rt = runtime();
    let receiver = rt.block_on(OtlpReceiver::start()).unwrap();
    let mock = rt.block_on(ChatMock::builder().start()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    write_lines(
        &input,
        &[
            json!({"model": "codex-agent/gpt-5", "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
        ],
    );
    let out = scillm()
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .arg("--no-progress")
        .env("CODEX_AGENT_API_BASE", mock.base_url())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("TRACEPARENT", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let chat = rt
        .block_on(receiver.wait_for(Duration::from_secs(10), |s| s.name == "chat gpt-5"))
        .unwrap_or_else(|| panic!("no `chat gpt-5` span; got {:?}", receiver.spans()));
    assert_eq!(chat.kind, 3);
    assert_eq!(chat.trace_id, TRACE_ID);
    assert_eq!(
        chat.attributes.get("gen_ai.provider.name"),
        Some(&"codex-agent".into())
    );
    assert_eq!(
        chat.attributes.get("gen_ai.request.model"),
        Some(&"gpt-5".into())
    );
    let sent = mock.requests();
    assert_eq!(sent[0].model(), "gpt-5");
    assert_eq!(
        sent[0].header("traceparent"),
        Some(format!("00-{TRACE_ID}-{}-01", chat.span_id).as_str())
    );
}

/// Model ids of the scrape test's deployments; the mock answers by model.
const GOOD: &str = "m-good";
const RETRY: &str = "m-retry";
const REFUSING: &str = "m-429";
const SPARE: &str = "m-spare";
const HOLD: &str = "m-hold";
/// The user text of every line: never a label value.
const USER_TEXT: &str = "words-of-the-user";

fn scrape_config(base: &str) -> String {
    let dep = |name: &str, model: &str, extra: &str| {
        format!(
            "[[model_list]]\nmodel_name = \"{name}\"\nprovider = \"openai\"\napi_base = \"{base}\"\nmodel = \"{model}\"\n{extra}\n"
        )
    };
    [
        "[router]\nnum_retries = 2\nconcurrency = 16\n".to_string(),
        dep("good", GOOD, "rpm = 60000"),
        dep("retry", RETRY, ""),
        dep("limited", REFUSING, "order = 1"),
        dep("limited", SPARE, "order = 2"),
        dep("hold", HOLD, ""),
    ]
    .concat()
}

#[test]
fn metrics_addr_serves_the_counts_of_a_known_mix_while_the_batch_runs() {
    let Some(python) =
        scillm_testkit::external("SCILLM_TEST_PYTHON", "a python with `prometheus_client`")
    else {
        return;
    };
    let rt = runtime();
    let retried = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&retried);
    let mock = rt
        .block_on(
            ChatMock::builder()
                .respond_with(move |req| match req.model() {
                    RETRY if r.fetch_add(1, Ordering::SeqCst) == 0 => MockReply::status(500),
                    REFUSING => MockReply::status(429).with_retry_after("30"),
                    HOLD => MockReply::ok("late").with_delay(Duration::from_secs(600)),
                    _ => MockReply::ok("fine"),
                })
                .start(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scillm.toml");
    std::fs::write(&config, scrape_config(&mock.base_url())).unwrap();
    let input = dir.path().join("in.jsonl");
    let line = |model: &str| {
        json!({"model": model, "messages": [{"role": "user", "content": USER_TEXT}]}).to_string()
    };
    let mut lines: Vec<String> = ["good", "good", "good", "retry", "limited", "hold"]
        .iter()
        .map(|m| line(m))
        .collect();
    lines.push("{not json".into());
    write_lines(&input, &lines);
    let mut child = scillm()
        .args(["--config", config.to_str().unwrap(), "batch"])
        .arg(input.to_str().unwrap())
        .args(["-o", dir.path().join("out.jsonl").to_str().unwrap()])
        .args(["--metrics-addr", "127.0.0.1:0", "--no-progress"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let url = {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "no metrics line");
            if let Some(u) = line.trim().strip_prefix("metrics: ") {
                break u.to_string();
            }
        }
    };
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    // Six lines end; the seventh is held by the upstream, so the batch still runs.
    let client = reqwest::Client::new();
    let get = |url: &str| rt.block_on(client.get(url).send());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (text, samples) = loop {
        let resp = get(&url).unwrap();
        assert_eq!(resp.status(), 200);
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = rt.block_on(resp.text()).unwrap();
        let samples = prometheus::parse(&python, &text).unwrap();
        if prometheus::sum(&samples, "scillm_requests_total", &[]) >= 6.0 {
            break (text, samples);
        }
        assert!(Instant::now() < deadline, "six lines never ended:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let v = |name: &str, labels: &[(&str, &str)]| prometheus::value(&samples, name, labels);
    let requests = |dep: &str, et: &str| {
        v(
            "scillm_requests_total",
            &[("deployment", dep), ("error_type", et)],
        )
    };
    assert_eq!(requests("good#0", "ok"), Some(3.0), "{text}");
    assert_eq!(requests("retry#0", "ok"), Some(1.0), "{text}");
    assert_eq!(requests("limited#1", "ok"), Some(1.0), "{text}");
    assert_eq!(requests("limited#0", "ok"), None, "{text}");
    assert_eq!(
        v(
            "scillm_requests_total",
            &[("provider", "none"), ("error_type", "provider_error")]
        ),
        Some(1.0),
        "the unparseable line: {text}"
    );
    assert_eq!(
        prometheus::sum(&samples, "scillm_requests_total", &[]),
        6.0,
        "{text}"
    );
    assert_eq!(
        v("scillm_retries_total", &[("deployment", "retry#0")]),
        Some(1.0),
        "the 500 was retried once: {text}"
    );
    assert_eq!(
        v("scillm_retries_total", &[("deployment", "limited#1")]),
        Some(1.0),
        "the 429 failed over: {text}"
    );
    assert_eq!(
        v(
            "scillm_deployment_cooldowns_total",
            &[("deployment", "limited#0")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        prometheus::sum(&samples, "scillm_deployment_cooldowns_total", &[]),
        1.0
    );
    let genai = |model: &'static str| {
        [
            ("gen_ai_operation_name", "chat"),
            ("gen_ai_provider_name", "openai"),
            ("gen_ai_request_model", model),
        ]
    };
    let mut labels = genai(GOOD).to_vec();
    labels.push(("error_type", "ok"));
    assert_eq!(
        v("gen_ai_client_operation_duration_seconds_count", &labels),
        Some(3.0),
        "{text}"
    );
    let mut input_tokens = genai(GOOD).to_vec();
    input_tokens.push(("gen_ai_token_type", "input"));
    // The mock reports 1 prompt and 1 completion token per answer.
    assert_eq!(
        v("gen_ai_client_token_usage_sum", &input_tokens),
        Some(3.0),
        "{text}"
    );
    let mut output_tokens = genai(SPARE).to_vec();
    output_tokens.push(("gen_ai_token_type", "output"));
    assert_eq!(
        v("gen_ai_client_token_usage_count", &output_tokens),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        v(
            "scillm_rate_limit_wait_seconds_count",
            &[("deployment", "good#0")]
        ),
        Some(3.0),
        "admission of the rpm-limited deployment: {text}"
    );
    assert_eq!(v("scillm_queue_seconds_count", &[]), Some(6.0), "{text}");
    assert_eq!(
        v("scillm_in_flight", &[("component", "router")]),
        Some(1.0),
        "the held line: {text}"
    );
    assert!(
        samples
            .iter()
            .filter(|s: &&Sample| s.name.starts_with("scillm_") || s.name.starts_with("gen_ai_"))
            .all(|s| s
                .labels
                .values()
                .all(|v| !v.as_str().unwrap_or("").contains(USER_TEXT))),
        "no request text in label values"
    );

    // Stop the batch: the held line is cancelled, the endpoint goes away with the run.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let stderr = rest.join().unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(
        get(&url).is_err(),
        "/metrics is served for the run's life only"
    );
}

#[test]
fn a_metrics_addr_that_cannot_be_bound_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    write_lines(&input, &["{}".to_string()]);
    let out = scillm()
        .args(["batch", input.to_str().unwrap()])
        .args(["--metrics-addr", "not-an-address"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--metrics-addr not-an-address") && stderr.contains("HOST:PORT"),
        "{stderr}"
    );
}
