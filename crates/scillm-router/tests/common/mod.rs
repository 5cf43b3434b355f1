//! Shared test support: a third-party test provider registered through `inventory`, and
//! config helpers for routers pointed at a mock upstream.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use scillm_core::config::ConfigLoader;
use scillm_core::wire::{ChatChunk, ChatRequest, ChatResponse, Delta};
use scillm_core::{
    CallContext, ChunkStream, Config, ErrorKind, Provider, ProviderError, ProviderRegistration,
    ProviderSettings, SharedProvider,
};
use scillm_router::Router;
// Links the codex-agent and openai providers (they register through inventory).
use scillm_provider_codex as _;
use serde_json::{json, Value};

/// Calls the test provider has started.
pub static SCRIPTED_CALLS: AtomicUsize = AtomicUsize::new(0);
/// Every request the test provider got.
pub static REQUESTS: Mutex<Vec<ChatRequest>> = Mutex::new(Vec::new());

/// The request whose last message is `text`.
pub fn request_with_text(text: &str) -> Option<ChatRequest> {
    REQUESTS
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r.messages.last().map(|m| m.text_content()).as_deref() == Some(text))
        .cloned()
}

scillm_core::inventory::submit! {
    ProviderRegistration {
        name: "test-scripted",
        aliases: &["test_scripted"],
        description: "test provider: the last user message says what to do",
        build: build_scripted,
    }
}

fn build_scripted(_: &ProviderSettings) -> Result<SharedProvider, ProviderError> {
    Ok(Arc::new(Scripted))
}

/// Answers by the last message's text: `panic`, `hang`, `fail:<status>`,
/// `sleep:<ms>:<text>`, `empty`, anything else is echoed.
#[derive(Debug)]
pub struct Scripted;

impl Scripted {
    async fn answer(&self, request: &ChatRequest) -> Result<String, ProviderError> {
        SCRIPTED_CALLS.fetch_add(1, Ordering::SeqCst);
        REQUESTS.lock().unwrap().push(request.clone());
        let text = request
            .messages
            .last()
            .map(|m| m.text_content())
            .unwrap_or_default();
        if text == "panic" {
            panic!("scripted provider panic");
        }
        if text == "hang" {
            std::future::pending::<()>().await;
        }
        if let Some(code) = text.strip_prefix("fail:") {
            return Err(ProviderError::from_status(
                code.parse().unwrap(),
                "scripted failure",
            ));
        }
        if let Some(rest) = text.strip_prefix("sleep:") {
            let (ms, reply) = rest.split_once(':').unwrap();
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
            return Ok(reply.to_string());
        }
        if text == "empty" {
            return Ok("  ".into());
        }
        Ok(text)
    }
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        "test-scripted"
    }

    async fn chat(
        &self,
        request: ChatRequest,
        _: &CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        let text = self.answer(&request).await?;
        Ok(ChatResponse::from_text("scripted-1", request.model, text))
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        _: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let text = self.answer(&request).await?;
        let (a, b) = text.split_at(text.len() / 2);
        let chunks: Vec<Result<ChatChunk, ProviderError>> = vec![
            Ok(ChatChunk::delta(
                "s-1",
                &request.model,
                Delta::text(a),
                None,
            )),
            Ok(ChatChunk::delta(
                "s-1",
                &request.model,
                Delta::text(b),
                Some("stop".into()),
            )),
        ];
        Ok(Box::pin(futures::stream::iter(chunks)))
    }
}

/// A config from explicit `(key, value)` pairs, with no file and an empty environment.
pub fn config(pairs: &[(&str, Value)]) -> Arc<Config> {
    let mut loader = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .set("codex_agent.max_retries", 0);
    for (k, v) in pairs {
        loader = loader.set(k, v.clone());
    }
    Arc::new(loader.load().unwrap())
}

/// A router over `model_list` with extra settings.
pub fn router(model_list: Value, extra: &[(&str, Value)]) -> Router {
    let mut pairs = vec![("model_list", model_list)];
    pairs.extend(extra.iter().cloned());
    Router::new(config(&pairs)).unwrap()
}

/// A raw item for `model` with one user message.
pub fn item(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The `scillm_router` object of a result, as JSON.
pub fn meta(r: &scillm_router::RouterResult) -> Value {
    r.to_value()["scillm_router"].clone()
}

/// An error kind's name.
pub fn kind(r: &scillm_router::RouterResult) -> Option<ErrorKind> {
    r.meta.error_kind
}
