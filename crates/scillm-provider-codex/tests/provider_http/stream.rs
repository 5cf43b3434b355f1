//! Streaming: SSE chunks in order, `[DONE]`, error events, cut and stalled streams.

use futures::StreamExt;
use scillm_core::wire::ChatChunk;
use scillm_core::{CallContext, ChunkStream, ErrorKind, ProviderError};
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::support::{
    codex, completion, hi, http_chunk, ok, sse_event, upstream, RawReply, RawServer,
    SSE_HEAD_CHUNKED, SSE_HEAD_CLOSE_DELIMITED,
};

fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream")
}

async fn collect(mut s: ChunkStream) -> Vec<Result<ChatChunk, ProviderError>> {
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        out.push(item);
    }
    out
}

fn text(items: &[Result<ChatChunk, ProviderError>]) -> String {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .flat_map(|c| c.choices.iter().map(|ch| ch.delta.text_str().to_string()))
        .collect()
}

#[tokio::test]
async fn chunks_arrive_in_order_and_done_ends_the_stream() {
    let role = "data: {\"id\":\"chatcmpl-s1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}\n\n";
    let body = format!(
        ": keep-alive comment\n\n{role}{}{}{}data: [DONE]\n\n{}",
        sse_event("Hel", None),
        sse_event("lo", None),
        sse_event("", Some("stop")),
        sse_event("after done", None),
    );
    let (server, seen) = upstream(vec![sse(body)]).await;
    let ctx = CallContext::new();
    let stream = codex(&server.uri(), &[])
        .chat_stream(hi(), &ctx)
        .await
        .unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(items.iter().all(Result::is_ok));
    assert_eq!(text(&items), "Hello");
    let last = items[3].as_ref().unwrap();
    assert_eq!(last.choices[0].finish_reason.as_deref(), Some("stop"));
    let body: Value = seen.requests()[0].body_json().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(
        seen.requests()[0]
            .headers
            .get("x-codex-force-local")
            .unwrap(),
        "1"
    );
    assert_eq!(ctx.stats.get().unwrap().final_status, Some(200));
}

#[tokio::test]
async fn an_error_status_before_the_stream_starts_is_retried() {
    let body = format!("{}data: [DONE]\n\n", sse_event("ok", Some("stop")));
    let (server, seen) = upstream(vec![ResponseTemplate::new(503), sse(body)]).await;
    let ctx = CallContext::new();
    let stream = codex(&server.uri(), &[])
        .chat_stream(hi(), &ctx)
        .await
        .unwrap();
    assert_eq!(text(&collect(stream).await), "ok");
    assert_eq!(seen.count(), 2);
    assert_eq!(ctx.stats.get().unwrap().statuses, vec![503, 200]);
}

#[tokio::test]
async fn a_401_before_the_stream_is_auth_and_not_retried() {
    let (server, seen) = upstream(vec![ResponseTemplate::new(401)]).await;
    let ctx = CallContext::new();
    let err = codex(&server.uri(), &[])
        .chat_stream(hi(), &ctx)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert_eq!(seen.count(), 1);
}

#[tokio::test]
async fn an_error_event_ends_the_stream_with_one_error() {
    let body = format!(
        "{}event: error\ndata: {{\"error\":{{\"message\":\"codex exited 1\"}}}}\n\n{}data: [DONE]\n\n",
        sse_event("partial", None),
        sse_event("never", None),
    );
    let (server, _) = upstream(vec![sse(body)]).await;
    let stream = codex(&server.uri(), &[])
        .chat_stream(hi(), &CallContext::new())
        .await
        .unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(text(&items), "partial");
    let err = items[1].as_ref().unwrap_err();
    // SPEC §11: an error event without a status, code or type is a server error.
    assert_eq!(err.kind, ErrorKind::Server);
    assert!(err.message.contains("codex exited 1"), "{}", err.message);
}

#[tokio::test]
async fn a_data_error_object_in_the_first_event_fails_the_call_and_is_retried() {
    let body = "data: {\"error\":{\"message\":\"overloaded\",\"code\":503}}\n\n".to_string();
    let (server, seen) = upstream(vec![sse(body)]).await;
    let err = codex(&server.uri(), &[])
        .chat_stream(hi(), &CallContext::new())
        .await
        .err()
        .unwrap();
    assert_eq!((err.kind, err.status), (ErrorKind::Server, Some(503)));
    assert!(err.message.contains("overloaded"), "{}", err.message);
    assert_eq!(seen.count(), 3, "retried like a 503");
}

#[tokio::test]
async fn a_stream_closed_before_done_is_an_error() {
    let reply = format!(
        "{SSE_HEAD_CLOSE_DELIMITED}{}{}",
        sse_event("Hel", None),
        sse_event("lo", None)
    );
    let server = RawServer::start(RawReply::ThenClose(reply.into_bytes())).await;
    let stream = codex(&server.base, &[])
        .chat_stream(hi(), &CallContext::new())
        .await
        .unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(text(&items), "Hello");
    let err = items[2].as_ref().unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidResponse, "{err}");
}

#[tokio::test]
async fn a_chunked_stream_cut_mid_body_is_an_error() {
    // The last HTTP chunk is announced longer than what is sent before the close.
    let reply = format!(
        "{SSE_HEAD_CHUNKED}{}{}",
        http_chunk(&sse_event("Hel", None)),
        "ff\r\ndata: {\"id\""
    );
    let server = RawServer::start(RawReply::ThenClose(reply.into_bytes())).await;
    let stream = codex(&server.base, &[])
        .chat_stream(hi(), &CallContext::new())
        .await
        .unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(text(&items), "Hel");
    let err = items[1].as_ref().unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Connect | ErrorKind::InvalidResponse),
        "{err}"
    );
}

#[tokio::test]
async fn a_stalled_stream_times_out() {
    let reply = format!("{SSE_HEAD_CLOSE_DELIMITED}{}", sse_event("Hel", None));
    let server = RawServer::start(RawReply::ThenStall(reply.into_bytes())).await;
    let p = codex(&server.base, &[("CODEX_AGENT_TIMEOUT_S", "0.3")]);
    let stream = p.chat_stream(hi(), &CallContext::new()).await.unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[1].as_ref().unwrap_err().kind, ErrorKind::Timeout);
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_becomes_one_chunk() {
    let (server, _) = upstream(vec![ok("whole")]).await;
    let stream = codex(&server.uri(), &[])
        .chat_stream(hi(), &CallContext::new())
        .await
        .unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 1);
    let chunk = items[0].as_ref().unwrap();
    assert_eq!(chunk.id, completion("")["id"]);
    assert_eq!(text(&items), "whole");
    assert_eq!(chunk.choices[0].finish_reason.as_deref(), Some("stop"));
}
