//! Streams and the response cache (`[cache] cache_stream = true`, SPEC §18): a hit is
//! replayed as a stream; a streamed answer is aggregated as it passes and stored when it
//! ends cleanly.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use scillm_cache::CacheKey;
use scillm_core::wire::{ChatChunk, ChatResponse, ChunkChoice, Delta};
use scillm_core::ChunkStream;
use serde_json::{json, Map, Value};

use crate::router::Inner;
use scillm_core::wire::Aggregator;

/// `answer` as a stream: per choice, one chunk with the role, the whole content and the
/// tool calls, then one with its `finish_reason`; usage on the last chunk.
pub(crate) fn replay(answer: ChatResponse) -> ChunkStream {
    let mut chunks = Vec::with_capacity(answer.choices.len() * 2);
    for choice in &answer.choices {
        let message = serde_json::to_value(&choice.message).unwrap_or(Value::Null);
        let mut delta = json!({"role": "assistant"});
        for field in ["content", "reasoning_content", "refusal"] {
            if let Some(v) = message.get(field).filter(|v| !v.is_null()) {
                delta[field] = v.clone();
            }
        }
        if let Some(Value::Array(calls)) = message.get("tool_calls") {
            let indexed: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut c = c.clone();
                    c["index"] = json!(i);
                    c
                })
                .collect();
            delta["tool_calls"] = Value::Array(indexed);
        }
        let delta: Delta = serde_json::from_value(delta).unwrap_or_default();
        chunks.push(chunk(&answer, choice.index, delta, None));
        let finish = choice.finish_reason.clone();
        chunks.push(chunk(&answer, choice.index, Delta::default(), finish));
    }
    if let Some(last) = chunks.last_mut() {
        last.usage = answer.usage.clone();
    }
    Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)))
}

fn chunk(answer: &ChatResponse, index: u32, delta: Delta, finish: Option<String>) -> ChatChunk {
    ChatChunk {
        id: answer.id.clone(),
        object: "chat.completion.chunk".into(),
        created: answer.created,
        model: answer.model.clone(),
        choices: vec![ChunkChoice {
            index,
            delta,
            finish_reason: finish,
            extra: Map::new(),
        }],
        usage: None,
        extra: Map::new(),
    }
}

/// `stream` unchanged, its chunks folded into an answer that is stored under `key` when
/// the stream ends without an error and the answer has content or tool calls.
pub(crate) fn store_when_done(
    stream: ChunkStream,
    inner: Arc<Inner>,
    key: CacheKey,
    model: String,
) -> ChunkStream {
    let acc = Arc::new(Mutex::new(Some(Aggregator::default())));
    let seen = Arc::clone(&acc);
    let passing = stream.map(move |item| {
        if let Ok(mut guard) = seen.lock() {
            match &item {
                Ok(chunk) => {
                    if let Some(agg) = guard.as_mut() {
                        agg.push(chunk.clone());
                    }
                }
                // A failed stream is not worth serving again.
                Err(_) => *guard = None,
            }
        }
        item
    });
    let store = futures::stream::once(async move {
        let agg = acc.lock().ok().and_then(|mut g| g.take());
        if let (Some(agg), Some(cache)) = (agg, inner.cache.get().await) {
            let answer = agg.finish(&model);
            if !answer.first_text().trim().is_empty() || !answer.first_tool_calls().is_empty() {
                cache.put(&key, &answer).await;
            }
        }
        None
    })
    .filter_map(futures::future::ready);
    Box::pin(passing.chain(store))
}
