//! A third-party provider: `shout` answers with the last user message in upper case.
//! It registers itself through `inventory`; no crate of the workspace names it.

use std::sync::Arc;

use async_trait::async_trait;
use scillm_core::registry::{ProviderRegistration, ProviderSettings};
use scillm_core::wire::{ChatChunk, ChatRequest, ChatResponse, Delta};
use scillm_core::{CallContext, ChunkStream, Provider, ProviderError, SharedProvider};

/// The provider.
#[derive(Debug)]
pub struct Shout;

fn answer(request: &ChatRequest) -> String {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == scillm_core::wire::Role::User)
        .map(|m| m.text_content().to_uppercase())
        .unwrap_or_default()
}

#[async_trait]
impl Provider for Shout {
    fn name(&self) -> &str {
        "shout"
    }

    async fn chat(
        &self,
        request: ChatRequest,
        _ctx: &CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        Ok(ChatResponse::from_text(
            "shout-1",
            request.model.clone(),
            answer(&request),
        ))
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        _ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let chunk = ChatChunk::delta(
            "shout-1",
            request.model.clone(),
            Delta::text(answer(&request)),
            Some("stop".into()),
        );
        Ok(Box::pin(futures::stream::iter([Ok(chunk)])))
    }
}

fn build(_settings: &ProviderSettings) -> Result<SharedProvider, ProviderError> {
    Ok(Arc::new(Shout))
}

scillm_core::inventory::submit! {
    ProviderRegistration {
        name: "shout",
        aliases: &["upper"],
        description: "example third-party provider: answers in upper case",
        build,
    }
}
