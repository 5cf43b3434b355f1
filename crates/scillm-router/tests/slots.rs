//! Exactly one result per item, whatever happens to it: timeouts, panics, invalid items,
//! cancellation, streams. Uses a test provider registered from this test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{item, meta, router};
use futures::StreamExt;
use scillm_core::ErrorKind;
use scillm_router::{ErrorType, ParallelOptions, RequestItem, RouterRequest};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn scripted() -> scillm_router::Router {
    router(
        json!([{"model_name": "s", "provider": "test-scripted"}]),
        &[],
    )
}

#[tokio::test]
async fn empty_input_gives_empty_output() {
    let out = scripted()
        .parallel(Vec::<RequestItem>::new(), ParallelOptions::new())
        .await;
    assert!(out.is_empty());
}

#[tokio::test]
async fn a_third_party_provider_answers_with_full_metadata() {
    let r = scripted().completion(item("s", "hello")).await;
    assert!(r.is_ok(), "{:?}", r.meta);
    assert_eq!(r.content(), "hello");
    let m = meta(&r);
    assert_eq!(m["error_type"], "ok");
    assert_eq!(m["provider"], "test-scripted");
    assert_eq!(m["deployment"], "s#0");
    assert_eq!(m["model"], "s");
    assert_eq!(m["json_valid"], json!(null));
    assert_eq!(m["fallback_used"], false);
}

#[tokio::test]
async fn timeout_panic_and_invalid_items_fill_their_slots() {
    let items = vec![
        RequestItem::from(item("s", "first")),
        RequestItem::from(item("s", "hang")),
        RequestItem::from(item("s", "panic")),
        RequestItem::from_json_line("{not json"),
        RequestItem::from(json!({"model": "s"})),
        RequestItem::from(json!(42)),
        RequestItem::from(item("s", "empty")),
        RequestItem::from(item("nope", "x")),
        RequestItem::from(item("s", "last")),
    ];
    let opts = ParallelOptions::new().timeout(Duration::from_millis(300));
    let out = scripted().parallel(items, opts).await;
    assert_eq!(out.len(), 9);
    for (i, r) in out.iter().enumerate() {
        assert_eq!(r.meta.index, i);
    }
    assert_eq!(out[0].content(), "first");
    assert_eq!(out[1].meta.error_type, ErrorType::Timeout);
    assert_eq!(meta(&out[1])["error_kind"], "timeout");
    assert_eq!(out[1].content(), "");
    assert_eq!(out[1].meta.provider.as_deref(), Some("test-scripted"));
    assert_eq!(out[2].meta.error_type, ErrorType::ProviderError);
    assert_eq!(meta(&out[2])["error_kind"], "internal");
    assert!(out[2].meta.exception.as_deref().unwrap().contains("panic"));
    for i in [3, 4, 5] {
        assert_eq!(meta(&out[i])["error_type"], "provider_error", "item {i}");
        assert_eq!(meta(&out[i])["error_kind"], "invalid_request", "item {i}");
        assert_eq!(out[i].to_value()["choices"][0]["message"]["content"], "");
    }
    assert_eq!(out[6].meta.error_type, ErrorType::EmptyContent);
    assert_eq!(out[7].meta.error_kind, Some(ErrorKind::NotFound));
    assert!(out[7]
        .meta
        .exception
        .as_deref()
        .unwrap()
        .contains("unknown model `nope`"));
    assert_eq!(out[8].content(), "last");
}

#[tokio::test]
async fn a_panic_in_a_single_completion_is_caught() {
    let r = scripted().completion(item("s", "panic")).await;
    assert_eq!(r.meta.error_kind, Some(ErrorKind::Internal));
    let err = scripted()
        .chat(
            RouterRequest::from_value(item("s", "panic"))
                .unwrap()
                .request,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal);
}

#[tokio::test]
async fn stream_items_are_aggregated_into_one_message() {
    let mut raw = item("s", "streamed answer");
    raw["stream"] = json!(true);
    let out = scripted().parallel(vec![raw], ParallelOptions::new()).await;
    assert!(out[0].is_ok(), "{:?}", out[0].meta);
    assert_eq!(out[0].content(), "streamed answer");
    assert_eq!(out[0].response.object, "chat.completion");
    assert_eq!(
        out[0].response.choices[0].finish_reason.as_deref(),
        Some("stop")
    );
}

#[tokio::test]
async fn deterministic_mode_pins_sampling_parameters() {
    let mut raw = item("s", "det-check");
    raw["temperature"] = json!(0.9);
    let out = scripted()
        .parallel(vec![raw], ParallelOptions::new().deterministic(true))
        .await;
    assert!(out[0].is_ok());
    let sent = common::request_with_text("det-check").unwrap().to_value();
    assert_eq!(sent["temperature"], 0);
    assert_eq!(sent["top_p"], 1);
    assert_eq!(sent["presence_penalty"], 0);
    assert_eq!(sent["frequency_penalty"], 0);
}

#[tokio::test]
async fn a_cancelled_batch_still_fills_every_slot() {
    let token = CancellationToken::new();
    let items: Vec<_> = (0..10).map(|_| item("s", "hang")).collect();
    let router = scripted();
    let mut stream = Box::pin(
        router.parallel_stream(
            items,
            ParallelOptions::new()
                .concurrency(3)
                .cancel_with(token.clone()),
        ),
    );
    token.cancel();
    let mut seen = Vec::new();
    while let Some((i, r)) = stream.next().await {
        assert_eq!(r.meta.error_kind, Some(ErrorKind::Cancelled), "item {i}");
        seen.push(i);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn fail_fast_cancels_running_and_pending_items() {
    let mut items = vec![item("s", "fail:500")];
    items.extend((0..20).map(|_| item("s", "hang")));
    let out = scripted()
        .parallel(items, ParallelOptions::new().concurrency(4).fail_fast(true))
        .await;
    assert_eq!(out.len(), 21);
    assert_eq!(out[0].meta.error_kind, Some(ErrorKind::Server));
    for r in &out[1..] {
        assert_eq!(r.meta.error_kind, Some(ErrorKind::Cancelled));
        assert!(
            r.meta.exception.as_deref().unwrap().contains("fail_fast"),
            "{:?}",
            r.meta.exception
        );
    }
}

#[tokio::test]
async fn chat_stream_streams_from_the_resolved_provider() {
    let req = RouterRequest::from_value(item("s", "two halves")).unwrap();
    let mut stream = scripted().chat_stream(req).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk.unwrap().choices[0].delta.text_str());
    }
    assert_eq!(text, "two halves");
    let err = scripted()
        .chat_stream(
            RouterRequest::from_value(item("nope", "x"))
                .unwrap()
                .request,
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::NotFound);
}
