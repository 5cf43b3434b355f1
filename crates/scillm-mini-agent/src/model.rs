//! [`ModelClient`]: how the agent reaches a model. The agent loop only needs one call, so
//! it depends on this small trait rather than on a concrete router.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use scillm_core::wire::{ChatRequest, ChatResponse};
use scillm_core::{CallContext, ProviderError, SharedProvider};

/// Something that answers one chat request: a router, a provider, a test double.
#[async_trait]
pub trait ModelClient: Send + Sync + fmt::Debug {
    /// One complete answer for `request`.
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, ProviderError>;
}

/// A shared model client.
pub type SharedModel = Arc<dyn ModelClient>;

#[async_trait]
impl<T: ModelClient + ?Sized> ModelClient for Arc<T> {
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        (**self).chat(request).await
    }
}

/// A single provider used as the model (no routing, no deployments).
#[derive(Debug, Clone)]
pub struct ProviderModel(pub SharedProvider);

#[async_trait]
impl ModelClient for ProviderModel {
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        self.0.chat(request, &CallContext::new()).await
    }
}

/// The scillm router: the agent's model is any `model_list` deployment or provider the
/// router resolves.
#[async_trait]
impl ModelClient for scillm_router::Router {
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        scillm_router::Router::chat(self, request).await
    }
}
