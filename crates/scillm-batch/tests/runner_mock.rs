//! The batch runner in process against the mock upstream: order, the bounded reorder
//! window, one compiled schema per distinct schema, token totals and cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use scillm_batch::{journal_path, BatchOptions, BatchRunner, Order, Output, Resume};
use scillm_testkit::chat_mock::{ChatMock, MockReply};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

mod support;
use support::router;

fn options(mock: &ChatMock, concurrency: usize) -> BatchOptions {
    BatchOptions {
        concurrency: Some(concurrency),
        default_provider: Some("openai".into()),
        default_api_base: Some(mock.base_url()),
        ..BatchOptions::default()
    }
}

fn line(text: &str) -> String {
    json!({"model": "m", "messages": [{"role": "user", "content": text}]}).to_string()
}

fn write_input(dir: &std::path::Path, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join("in.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn results(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn index(v: &Value) -> u64 {
    v["scillm_router"]["index"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_order_with_a_line_ten_times_slower_holds_at_most_the_window() {
    let mock = ChatMock::builder()
        .record(false)
        .respond_with(|r| {
            let delay = if r.last_text() == "slow" { 400 } else { 40 };
            MockReply::ok(r.last_text()).with_delay(Duration::from_millis(delay))
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = (0..120).map(|i| line(&format!("item {i}"))).collect();
    lines[0] = line("slow");
    let input = write_input(dir.path(), &lines);
    let out = dir.path().join("out.jsonl");
    let opts = BatchOptions {
        reorder_window: 4,
        ..options(&mock, 8)
    };
    let summary = BatchRunner::new(router(), opts)
        .run_file(&input, Output::File(out.clone()), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.written(), 120);
    assert_eq!(summary.ok(), 120);
    // Never more than the window in memory: later results waited in the journal.
    assert!(summary.reorder_peak <= 4, "held {}", summary.reorder_peak);
    assert!(
        summary.reorder_spilled > 0,
        "the slow line made no result wait"
    );
    let r = results(&out);
    assert_eq!(r.len(), 120);
    for (i, v) in r.iter().enumerate() {
        assert_eq!(index(v), i as u64);
        let want = if i == 0 {
            "slow".to_string()
        } else {
            format!("item {i}")
        };
        assert_eq!(v["choices"][0]["message"]["content"], want.as_str());
    }
    assert!(
        !journal_path(&out).exists(),
        "the journal outlived a complete run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_order_writes_the_fast_line_before_the_slow_one() {
    let mock = ChatMock::builder()
        .respond_with(|r| {
            let delay = if r.last_text() == "slow" { 300 } else { 0 };
            MockReply::ok("x").with_delay(Duration::from_millis(delay))
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &[line("slow"), line("fast")]);
    let out = dir.path().join("out.jsonl");
    let opts = BatchOptions {
        order: Order::Completed,
        ..options(&mock, 2)
    };
    BatchRunner::new(router(), opts)
        .run_file(&input, Output::File(out.clone()), CancellationToken::new())
        .await
        .unwrap();
    let r = results(&out);
    assert_eq!(r.iter().map(index).collect::<Vec<_>>(), vec![1, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_schema_compilation_per_distinct_schema() {
    let mock = ChatMock::builder()
        .content(r#"{"a": 1}"#)
        .record(false)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let schemas = [
        json!({"type": "object", "required": ["a"]}),
        json!({"type": "object", "properties": {"a": {"type": "integer"}}}),
    ];
    let lines: Vec<String> = (0..200)
        .map(|i| {
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "response_mode": "schema_first", "json_schema": schemas[i % 2]})
            .to_string()
        })
        .collect();
    let input = write_input(dir.path(), &lines);
    let before = scillm_router::schema_compilations();
    let summary = BatchRunner::new(router(), options(&mock, 16))
        .run_file(
            &input,
            Output::File(dir.path().join("out.jsonl")),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(summary.ok(), 200, "{}", summary.table());
    assert_eq!(scillm_router::schema_compilations() - before, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_totals_add_up_usage_with_its_details() {
    let body = json!({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 6},
            "completion_tokens_details": {"reasoning_tokens": 3}}});
    let mock = ChatMock::builder()
        .respond_with(move |_| MockReply {
            body: Some(body.clone()),
            ..MockReply::ok("")
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(
        dir.path(),
        &(0..25).map(|i| line(&i.to_string())).collect::<Vec<_>>(),
    );
    let summary = BatchRunner::new(router(), options(&mock, 4))
        .run_file(
            &input,
            Output::File(dir.path().join("out.jsonl")),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    let t = summary.to_json()["tokens"].clone();
    assert_eq!(
        t,
        json!({"prompt": 250, "completion": 100, "cached": 150, "reasoning": 75})
    );
    assert!(summary.requests_per_second() > 0.0);
}

/// Interrupt a batch of `n` lines after `after` results, then resume it in `resume_order`;
/// returns the output's indices. Checks on the way: the interrupted output is valid, in
/// input order a prefix with the journal kept, and the resume sends only the lines
/// without an `ok` result.
async fn interrupt_then_resume(
    first: Order,
    resume_order: Order,
    n: usize,
    after: u64,
) -> Vec<u64> {
    let mock = ChatMock::builder()
        .latency(Duration::from_millis(60))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(
        dir.path(),
        &(0..n)
            .map(|i| line(&format!("item {i}")))
            .collect::<Vec<_>>(),
    );
    let out = dir.path().join("out.jsonl");
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let opts = BatchOptions {
        order: first,
        ..options(&mock, 4)
    };
    let s = BatchRunner::new(router(), opts)
        .on_progress(move |p| {
            if p.done >= after {
                c.cancel();
            }
        })
        .run_file(&input, Output::File(out.clone()), cancel)
        .await
        .unwrap();
    assert!(s.interrupted && s.missing().unwrap() > 0, "{}", s.table());
    let partial = results(&out);
    if first == Order::Input {
        for (i, v) in partial.iter().enumerate() {
            assert_eq!(index(v), i as u64);
        }
        assert!(
            journal_path(&out).exists(),
            "the journal is kept for --resume"
        );
    }
    // The resume talks to a mock of its own: a request of the first run cut short by the
    // cancel may still reach the first mock late, and must not be counted as a resend.
    let resume_mock = ChatMock::builder()
        .latency(Duration::from_millis(60))
        .start()
        .await
        .unwrap();
    let opts = BatchOptions {
        order: resume_order,
        resume: Resume::Missing,
        ..options(&resume_mock, 4)
    };
    let first_kept = Arc::new(std::sync::Mutex::new(None));
    let fk = Arc::clone(&first_kept);
    let s = BatchRunner::new(router(), opts)
        .on_progress(move |p| {
            fk.lock().unwrap().get_or_insert(p.kept);
        })
        .run_file(&input, Output::File(out.clone()), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        *first_kept.lock().unwrap(),
        Some(s.resumed),
        "the first report, before any line starts, has every kept result"
    );
    assert_eq!(s.errors(), 0, "{}", s.table());
    assert_eq!(s.missing(), Some(0));
    assert!(!journal_path(&out).exists());
    assert_eq!(
        resume_mock.request_count() as u64,
        n as u64 - s.resumed,
        "only the lines without an ok result were sent again"
    );
    let r = results(&out);
    assert!(r.iter().all(|v| v["scillm_router"]["error_type"] == "ok"));
    r.iter().map(index).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_new_lines_keeps_what_finished_and_resume_completes() {
    let idx = interrupt_then_resume(Order::Input, Order::Input, 40, 8).await;
    assert_eq!(idx, (0..40).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_order_resume_drops_cancelled_lines_and_writes_each_index_once() {
    let mut idx = interrupt_then_resume(Order::Completed, Order::Completed, 30, 6).await;
    idx.sort_unstable();
    assert_eq!(idx, (0..30).collect::<Vec<_>>(), "every index exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_order_output_resumes_into_input_order() {
    let idx = interrupt_then_resume(Order::Completed, Order::Input, 30, 6).await;
    assert_eq!(idx, (0..30).collect::<Vec<_>>());
}

/// A writer the test can read afterwards.
#[derive(Clone, Default)]
struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_output_in_input_order_stops_starting_lines_while_the_window_is_full() {
    let mock = ChatMock::builder()
        .record(false)
        .respond_with(|r| {
            let delay = if r.last_text() == "slow" { 300 } else { 10 };
            MockReply::ok("x").with_delay(Duration::from_millis(delay))
        })
        .start()
        .await
        .unwrap();
    let mut lines: Vec<String> = (0..60).map(|i| line(&format!("item {i}"))).collect();
    lines[0] = line("slow");
    let input: &'static [u8] = Box::leak((lines.join("\n") + "\n").into_bytes().into_boxed_slice());
    let buf = Shared::default();
    let opts = BatchOptions {
        reorder_window: 3,
        ..options(&mock, 4)
    };
    let s = BatchRunner::new(router(), opts)
        .run(
            input,
            Output::Writer(Box::new(buf.clone())),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(s.ok(), 60);
    // Without a journal to spill to, at most the window plus the lines in flight.
    assert!(s.reorder_peak <= 3 + 4, "held {}", s.reorder_peak);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let idx: Vec<u64> = text
        .lines()
        .map(|l| index(&serde_json::from_str(l).unwrap()))
        .collect();
    assert_eq!(idx, (0..60).collect::<Vec<_>>());
}
