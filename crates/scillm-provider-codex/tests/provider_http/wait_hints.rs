//! Every wait-hint form (SPEC §11), measured at the mock: the gap between the failed
//! attempt and the retry is at least the hint, and `last_retry_after_s` equals it.

use std::time::{Duration, SystemTime};

use scillm_core::CallContext;
use scillm_testkit::chat_mock::{ChatMock, MockReply};

use crate::support::{codex, hi};

/// Run one call against a mock that first answers `first`, then `ok`; return the gap
/// between the two arrivals and the stats' `last_retry_after_s`.
async fn measure(first: MockReply, stream: bool) -> (Duration, f64) {
    let mock = ChatMock::builder()
        .then(first)
        .content("after the wait")
        .start()
        .await
        .unwrap();
    let provider = codex(&mock.base_url(), &[]);
    let ctx = CallContext::new();
    let req = hi();
    if stream {
        let s = provider.chat_stream(req, &ctx).await.unwrap();
        let r = streamed_text(s).await;
        assert_eq!(r, "after the wait");
    } else {
        let r = provider.chat(req, &ctx).await.unwrap();
        assert_eq!(r.first_text(), "after the wait");
    }
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at.duration_since(seen[0].at);
    let stats = ctx.stats.get().unwrap();
    assert_eq!(stats.attempts, 1);
    (gap, stats.last_retry_after_s.unwrap())
}

async fn streamed_text(mut s: scillm_core::ChunkStream) -> String {
    use futures::StreamExt;
    let mut out = String::new();
    while let Some(c) = s.next().await {
        for ch in c.unwrap().choices {
            out.push_str(ch.delta.text_str());
        }
    }
    out
}

fn assert_waited(form: &str, gap: Duration, last: f64, hint: Duration) {
    assert!(
        (last - hint.as_secs_f64()).abs() < 1e-9,
        "{form}: last_retry_after_s {last} != {hint:?}"
    );
    assert!(gap >= hint, "{form}: waited {gap:?} < hint {hint:?}");
}

#[tokio::test]
async fn each_wait_hint_form_is_waited_and_reported() {
    let forms: Vec<(&str, MockReply, Duration)> = vec![
        (
            "retry-after-ms",
            MockReply::status(429).with_header("retry-after-ms", "350"),
            Duration::from_millis(350),
        ),
        (
            "x-ms-retry-after-ms",
            MockReply::status(429).with_header("x-ms-retry-after-ms", "420.5"),
            Duration::from_secs_f64(0.4205),
        ),
        (
            "Retry-After seconds",
            MockReply::status(503).with_retry_after("1"),
            Duration::from_secs(1),
        ),
        (
            "x-ratelimit-reset-requests",
            MockReply::status(429)
                .with_header("x-ratelimit-remaining-requests", "0")
                .with_header("x-ratelimit-reset-requests", "300ms"),
            Duration::from_millis(300),
        ),
        (
            "x-ratelimit-reset-tokens",
            MockReply::status(429)
                .with_header("x-ratelimit-remaining-requests", "10")
                .with_header("x-ratelimit-reset-requests", "9s")
                .with_header("x-ratelimit-remaining-tokens", "0")
                .with_header("x-ratelimit-reset-tokens", "0m0.45s"),
            Duration::from_millis(450),
        ),
        (
            "error inside a 200 with retry-after-ms",
            MockReply::raw(200, r#"{"error":{"message":"busy","code":429}}"#)
                .with_header("content-type", "application/json")
                .with_header("retry-after-ms", "250"),
            Duration::from_millis(250),
        ),
    ];
    for (form, reply, hint) in forms {
        let (gap, last) = measure(reply.clone(), false).await;
        assert_waited(form, gap, last, hint);
        let (gap, last) = measure(reply, true).await;
        assert_waited(&format!("{form} (stream)"), gap, last, hint);
    }
}

#[tokio::test]
async fn an_http_date_retry_after_is_waited_until_that_time() {
    let at = SystemTime::now() + Duration::from_secs(2);
    let reply = MockReply::status(429).with_retry_after(httpdate::fmt_http_date(at));
    let (gap, last) = measure(reply, false).await;
    // The date has one-second resolution: the hint is what was left of it on arrival.
    assert!(last > 0.0 && last <= 2.0, "{last}");
    assert!(gap.as_secs_f64() >= last, "waited {gap:?} < {last}");
}
