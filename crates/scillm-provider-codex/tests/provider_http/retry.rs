//! SPEC §4 retry rules, each against a loopback server.

use std::time::{Duration, Instant, SystemTime};

use scillm_core::{CallContext, ErrorKind, RetryStats};
use wiremock::ResponseTemplate;

use crate::support::{codex, hi, ok, upstream};

fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_string(format!("upstream said {code}"))
}

fn stats(ctx: &CallContext) -> RetryStats {
    ctx.stats.get().expect("stats recorded")
}

#[tokio::test]
async fn a_500_then_200_makes_exactly_two_requests() {
    let (server, seen) = upstream(vec![status(500), ok("ok")]).await;
    let p = codex(&server.uri(), &[]);
    let ctx = CallContext::new();
    let resp = p.chat(hi(), &ctx).await.unwrap();
    assert_eq!(resp.first_text(), "ok");
    assert_eq!(seen.count(), 2);
}

#[tokio::test]
async fn two_502s_then_200_report_full_stats() {
    let (server, seen) = upstream(vec![status(502), status(502), ok("ok")]).await;
    let p = codex(&server.uri(), &[]);
    let ctx = CallContext::new();
    p.chat(hi(), &ctx).await.unwrap();
    let s = stats(&ctx);
    assert_eq!(s.failures, 2);
    assert_eq!(s.attempts, 2);
    assert_eq!(s.final_status, Some(200));
    assert_eq!(s.first_failure_status, Some(502));
    assert_eq!(s.retry_sequence.len(), 2);
    assert_eq!(s.statuses, vec![502, 200]);
    assert_eq!(s.total_sleep_ms, s.retry_sequence.iter().sum::<u64>());
    assert_eq!(seen.count(), 3);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_backoff_sequence() {
    let mut sequences = Vec::new();
    for _ in 0..2 {
        let (server, _) = upstream(vec![status(503), status(503), ok("ok")]).await;
        let ctx = CallContext::new();
        codex(&server.uri(), &[]).chat(hi(), &ctx).await.unwrap();
        sequences.push(stats(&ctx).retry_sequence);
    }
    assert_eq!(sequences[0], sequences[1]);
    // base 5 ms: 5·(1.05..1.15) then 10·(1.05..1.15).
    assert!((5..=6).contains(&sequences[0][0]), "{:?}", sequences[0]);
    assert!((10..=12).contains(&sequences[0][1]), "{:?}", sequences[0]);
}

#[tokio::test]
async fn retry_after_seconds_replaces_the_backoff() {
    let limited = status(429).insert_header("Retry-After", "1");
    let (server, seen) = upstream(vec![limited, ok("ok")]).await;
    let ctx = CallContext::new();
    let resp = codex(&server.uri(), &[]).chat(hi(), &ctx).await.unwrap();
    assert_eq!(resp.first_text(), "ok");
    assert_eq!(seen.count(), 2);
    assert!(seen.gap(0) >= Duration::from_secs(1), "{:?}", seen.gap(0));
    let s = stats(&ctx);
    assert_eq!(s.last_retry_after_s, Some(1.0));
    assert_eq!(s.retry_sequence, vec![1000]);
    assert_eq!(s.statuses, vec![429, 200]);
}

#[tokio::test]
async fn retry_after_http_date_replaces_the_backoff() {
    // A date 3 s ahead, whole seconds only: the wait is between 2 and 3 s.
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    let limited = status(429).insert_header("Retry-After", date.as_str());
    let (server, seen) = upstream(vec![limited, ok("ok")]).await;
    let ctx = CallContext::new();
    codex(&server.uri(), &[]).chat(hi(), &ctx).await.unwrap();
    assert_eq!(seen.count(), 2);
    assert!(seen.gap(0) >= Duration::from_secs(1), "{:?}", seen.gap(0));
    let ra = stats(&ctx).last_retry_after_s.unwrap();
    assert!((1.0..=3.0).contains(&ra), "{ra}");
}

#[tokio::test]
async fn retry_after_beyond_the_cap_is_rate_limited_without_waiting() {
    let limited = status(429).insert_header("Retry-After", "120");
    let (server, seen) = upstream(vec![limited, ok("ok")]).await;
    let ctx = CallContext::new();
    let p = codex(&server.uri(), &[("CODEX_AGENT_MAX_RETRY_AFTER_S", "2")]);
    let started = Instant::now();
    let err = p.chat(hi(), &ctx).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert_eq!(err.status, Some(429));
    assert!(err.message.contains("max_retry_after_s"), "{}", err.message);
    assert_eq!(seen.count(), 1);
    assert_eq!(stats(&ctx).last_retry_after_s, Some(120.0));
}

#[tokio::test]
async fn a_429_without_retry_after_is_retried_with_backoff() {
    let (server, seen) = upstream(vec![status(429), ok("ok")]).await;
    let ctx = CallContext::new();
    codex(&server.uri(), &[]).chat(hi(), &ctx).await.unwrap();
    assert_eq!(seen.count(), 2);
    assert_eq!(stats(&ctx).statuses, vec![429, 200]);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_typed_by_status() {
    for (code, kind) in [
        (400, ErrorKind::BadRequest),
        (401, ErrorKind::Auth),
        (403, ErrorKind::Auth),
        (404, ErrorKind::NotFound),
        (422, ErrorKind::BadRequest),
    ] {
        let (server, seen) = upstream(vec![status(code), ok("ok")]).await;
        let ctx = CallContext::new();
        let err = codex(&server.uri(), &[])
            .chat(hi(), &ctx)
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "{code}");
        assert_eq!(err.status, Some(code));
        let expected_body = format!("upstream said {code}");
        assert_eq!(err.body_excerpt.as_deref(), Some(expected_body.as_str()));
        assert_eq!(seen.count(), 1, "{code} was retried");
        let s = stats(&ctx);
        assert_eq!((s.failures, s.attempts, s.final_status), (1, 0, Some(code)));
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_deadline() {
    let silent = ok("late").set_delay(Duration::from_secs(60));
    let (server, seen) = upstream(vec![silent]).await;
    let p = codex(
        &server.uri(),
        &[
            ("CODEX_AGENT_TIMEOUT_S", "0.3"),
            ("CODEX_AGENT_DEADLINE_S", "1.5"),
        ],
    );
    let ctx = CallContext::new();
    let started = Instant::now();
    let err = p.chat(hi(), &ctx).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(
        took < Duration::from_millis(1500) + Duration::from_millis(500),
        "{took:?}"
    );
    // Timeouts are retried: three attempts of 0.3 s fit in the 1.5 s deadline.
    assert_eq!(seen.count(), 3);
    let s = stats(&ctx);
    assert_eq!((s.failures, s.attempts, s.final_status), (3, 2, None));
}

#[tokio::test]
async fn the_callers_deadline_wins_over_a_longer_configured_one() {
    let silent = ok("late").set_delay(Duration::from_secs(60));
    let (server, _) = upstream(vec![silent]).await;
    let p = codex(&server.uri(), &[]);
    let ctx = CallContext::new().with_deadline(Instant::now() + Duration::from_millis(400));
    let started = Instant::now();
    let err = p.chat(hi(), &ctx).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_garbage_2xx_is_retried_then_invalid_response() {
    let garbage = ResponseTemplate::new(200).set_body_string("<html>not json</html>");
    let (server, seen) = upstream(vec![garbage]).await;
    let ctx = CallContext::new();
    let err = codex(&server.uri(), &[])
        .chat(hi(), &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidResponse);
    assert_eq!(err.status, Some(200));
    assert_eq!(err.body_excerpt.as_deref(), Some("<html>not json</html>"));
    assert_eq!(seen.count(), 3);
    assert_eq!(stats(&ctx).statuses, vec![200]);
}

#[tokio::test]
async fn a_garbage_2xx_then_a_good_answer_succeeds() {
    let garbage = ResponseTemplate::new(200).set_body_string("{truncated");
    let (server, seen) = upstream(vec![garbage, ok("ok")]).await;
    let resp = codex(&server.uri(), &[])
        .chat(hi(), &CallContext::new())
        .await
        .unwrap();
    assert_eq!(resp.first_text(), "ok");
    assert_eq!(seen.count(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_connect_and_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let ctx = CallContext::new();
    let err = codex(&base, &[]).chat(hi(), &ctx).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");
    let s = stats(&ctx);
    assert_eq!((s.failures, s.attempts, s.final_status), (3, 2, None));
}

#[tokio::test]
async fn a_failed_call_still_yields_its_stats() {
    let (server, _) = upstream(vec![status(503)]).await;
    let ctx = CallContext::new();
    let err = codex(&server.uri(), &[])
        .chat(hi(), &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    let s = stats(&ctx);
    assert_eq!(s.failures, 3);
    assert_eq!(s.attempts, 2);
    assert_eq!(s.final_status, Some(503));
    assert_eq!(s.first_failure_status, Some(503));
    assert_eq!(s.statuses, vec![503]);
    assert_eq!(s.retry_sequence.len(), 2);
}

#[tokio::test]
async fn max_retries_is_honoured() {
    let (server, seen) = upstream(vec![status(500)]).await;
    let ctx = CallContext::new();
    let p = codex(&server.uri(), &[("CODEX_AGENT_MAX_RETRIES", "0")]);
    p.chat(hi(), &ctx).await.unwrap_err();
    assert_eq!(seen.count(), 1);
}

/// Counts events logged under the retry target.
struct RetryLines(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl tracing::Subscriber for RetryLines {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "scillm::retry" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn log_retries_logs_one_line_per_retry_and_nothing_when_off() {
    for (flag, expected) in [("1", 2), ("0", 0)] {
        let lines = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let _guard = tracing::subscriber::set_default(RetryLines(lines.clone()));
        let (server, _) = upstream(vec![status(502), status(502), ok("ok")]).await;
        let p = codex(&server.uri(), &[("CODEX_AGENT_LOG_RETRIES", flag)]);
        p.chat(hi(), &CallContext::new()).await.unwrap();
        assert_eq!(
            lines.load(std::sync::atomic::Ordering::SeqCst),
            expected,
            "flag {flag}"
        );
    }
}
