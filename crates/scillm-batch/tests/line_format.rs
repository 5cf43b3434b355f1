//! A [`LineFormat`] of the caller's own: an envelope around each request, lines refused
//! by `admit` without a call, and output lines that a resume reads back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scillm_batch::{BatchOptions, BatchRunner, LineFormat, Output, ParsedLine, Resume};
use scillm_core::{ErrorKind, ProviderError};
use scillm_router::{RequestItem, RouterResult};
use scillm_testkit::chat_mock::ChatMock;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

mod support;
use support::router;

/// `{"tag": "…", "request": {…}}` in; `{"tag", "text", "scillm_router"}` out. Lines whose
/// tag starts with `skip` are refused.
struct Envelope {
    api_base: String,
}

impl LineFormat for Envelope {
    type Context = String;

    fn parse(&self, _index: usize, line: &[u8]) -> ParsedLine<String> {
        let v: Value = serde_json::from_slice(line).unwrap();
        let mut request = v["request"].clone();
        request["custom_llm_provider"] = json!("openai");
        request["api_base"] = json!(self.api_base);
        ParsedLine {
            item: RequestItem::Raw(request),
            context: v["tag"].as_str().unwrap().to_string(),
        }
    }

    async fn admit(
        &self,
        _item: &RequestItem,
        tag: &String,
        _cancel: &CancellationToken,
    ) -> Result<(), ProviderError> {
        if tag.starts_with("skip") {
            return Err(ProviderError::new(ErrorKind::BadRequest, "refused by tag"));
        }
        Ok(())
    }

    fn output(&self, tag: &String, result: &RouterResult) -> Vec<u8> {
        let mut line = serde_json::to_vec(&json!({
            "tag": tag, "text": result.content(), "scillm_router": result.meta,
        }))
        .unwrap();
        line.push(b'\n');
        line
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_line_format_runs_refuses_and_resumes() {
    let mock = ChatMock::builder().content("hi").start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let text: String = (0..10)
        .map(|i| {
            let tag = if i % 5 == 0 { format!("skip-{i}") } else { format!("t-{i}") };
            json!({"tag": tag, "request": {"model": "m", "messages": [{"role": "user", "content": "x"}]}})
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("out.jsonl");
    let run = |resume| {
        let options = BatchOptions {
            concurrency: Some(3),
            resume,
            ..BatchOptions::default()
        };
        let format = Envelope {
            api_base: mock.base_url(),
        };
        BatchRunner::with_format(router(), options, format)
    };
    let s = run(Resume::Off)
        .run_file(&input, Output::File(out.clone()), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        (s.written(), s.ok(), s.errors()),
        (10, 8, 2),
        "{}",
        s.table()
    );
    assert_eq!(mock.request_count(), 8, "refused lines make no call");
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[1]["tag"], "t-1");
    assert_eq!(lines[1]["text"], "hi");
    assert_eq!(lines[5]["tag"], "skip-5");
    assert_eq!(lines[5]["scillm_router"]["error_kind"], "bad_request");

    // Everything is kept by a resume: the lines are read back through their record.
    let s = run(Resume::Unfinished)
        .run_file(&input, Output::File(out.clone()), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((s.written(), s.resumed, s.resumed_errors), (0, 10, 2));
    assert_eq!(mock.request_count(), 8);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 10);
}
