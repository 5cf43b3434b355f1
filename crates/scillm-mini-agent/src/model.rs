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

/// Names of the built-in stub model (SPEC §15): `dummy`, alias `noop`.
pub const STUB_MODELS: &[&str] = &["dummy", "noop"];

/// What the stub model answers.
pub const STUB_REPLY: &str = "ok";

/// Whether `model` names the built-in stub model.
pub fn is_stub_model(model: &str) -> bool {
    STUB_MODELS
        .iter()
        .any(|m| m.eq_ignore_ascii_case(model.trim()))
}

/// The built-in stub model: answers [`STUB_REPLY`] at once, without tools and without any
/// network call, so readiness checks (the runbook's `"model":"dummy"` payload) need no
/// configured model.
#[derive(Debug, Clone, Copy, Default)]
pub struct StubModel;

#[async_trait]
impl ModelClient for StubModel {
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        let mut resp =
            ChatResponse::from_text(scillm_serve::completion_id(), request.model, STUB_REPLY);
        resp.usage = Some(scillm_core::wire::Usage::default());
        Ok(resp)
    }
}
