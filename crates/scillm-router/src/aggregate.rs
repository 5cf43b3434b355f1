//! Turning a stream of chunks into one [`ChatResponse`], for `stream: true` items run
//! through the router. The folding itself is [`scillm_core::wire::Aggregator`].

use futures::StreamExt;
use scillm_core::wire::{Aggregator, ChatResponse};
use scillm_core::{ChunkStream, ErrorKind, ProviderError};

/// Drain `stream` into one response; an error item ends it with that error.
pub async fn collect(mut stream: ChunkStream, model: &str) -> Result<ChatResponse, ProviderError> {
    let mut agg = Aggregator::default();
    let mut chunks = 0usize;
    while let Some(item) = stream.next().await {
        agg.push(item?);
        chunks += 1;
    }
    if chunks == 0 {
        return Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            "the stream ended without a single chunk",
        ));
    }
    Ok(agg.finish(model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scillm_core::wire::{ChatChunk, Delta, Role};
    use serde_json::json;

    #[tokio::test]
    async fn chunks_become_one_message() {
        let mut first = Delta::text("Hel");
        first.role = Some(Role::Assistant);
        let tool = Delta {
            tool_calls: Some(vec![json!({"index": 0, "id": "c1", "type": "function",
                "function": {"name": "echo", "arguments": "{\"a\""}})]),
            ..Delta::default()
        };
        let tool2 = Delta {
            tool_calls: Some(vec![json!({"index": 0, "function": {"arguments": ":1}"}})]),
            ..Delta::default()
        };
        let chunks = vec![
            Ok(ChatChunk::delta("s1", "m", first, None)),
            Ok(ChatChunk::delta("s1", "m", Delta::text("lo"), None)),
            Ok(ChatChunk::delta("s1", "m", tool, None)),
            Ok(ChatChunk::delta("s1", "m", tool2, Some("stop".into()))),
        ];
        let stream: ChunkStream = Box::pin(futures::stream::iter(chunks));
        let r = collect(stream, "fallback").await.unwrap();
        assert_eq!(r.id, "s1");
        assert_eq!(r.first_text(), "Hello");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        let calls = r.first_tool_calls();
        assert_eq!(calls[0].function.name, "echo");
        assert_eq!(calls[0].function.arguments, "{\"a\":1}");
    }

    #[tokio::test]
    async fn two_calls_without_index_become_two_calls_with_valid_json() {
        let piece = |v: serde_json::Value| {
            Ok(ChatChunk::delta(
                "s",
                "m",
                Delta {
                    tool_calls: Some(vec![v]),
                    ..Delta::default()
                },
                None,
            ))
        };
        let chunks = vec![
            piece(json!({"id": "call_a", "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":"}})),
            piece(json!({"function": {"arguments": "\"Paris\"}"}})),
            piece(json!({"id": "call_b", "function": {"name": "time", "arguments": ""}})),
            piece(json!({"function": {"arguments": "{\"tz\":\"UTC\"}"}})),
            Ok(ChatChunk::delta(
                "s",
                "m",
                Delta::default(),
                Some("tool_calls".into()),
            )),
        ];
        let r = collect(Box::pin(futures::stream::iter(chunks)), "m")
            .await
            .unwrap();
        let calls = r.first_tool_calls();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(
            (calls[0].id.as_str(), calls[0].function.name.as_str()),
            ("call_a", "weather")
        );
        assert_eq!(
            (calls[1].id.as_str(), calls[1].function.name.as_str()),
            ("call_b", "time")
        );
        let a: serde_json::Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
        let b: serde_json::Value = serde_json::from_str(&calls[1].function.arguments).unwrap();
        assert_eq!(a, json!({"city": "Paris"}));
        assert_eq!(b, json!({"tz": "UTC"}));
    }

    #[tokio::test]
    async fn a_stream_error_or_an_empty_stream_is_an_error() {
        let items = vec![
            Ok(ChatChunk::delta("s", "m", Delta::text("x"), None)),
            Err(ProviderError::new(ErrorKind::Server, "boom")),
        ];
        let e = collect(Box::pin(futures::stream::iter(items)), "m")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server);
        let e = collect(Box::pin(futures::stream::empty()), "m")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidResponse);
    }
}
