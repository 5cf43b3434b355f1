//! The [`Provider`] trait every backend implements, and the per-call context.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use futures::Stream;
use secrecy::SecretString;

use crate::base::ApiBase;
use crate::error::ProviderError;
use crate::retry::RetryStatsSlot;
use crate::wire::{ChatChunk, ChatRequest, ChatResponse};

/// A stream of chunks; it ends after the last chunk, or with one error item.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send>>;

/// A chat backend: an HTTP API, a process, an in-process agent.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// The registered name (e.g. `codex-agent`).
    fn name(&self) -> &str;

    /// One complete answer.
    async fn chat(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChatResponse, ProviderError>;

    /// A streamed answer.
    async fn chat_stream(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError>;
}

/// A shared provider instance.
pub type SharedProvider = Arc<dyn Provider>;

/// What a caller passes with one call besides the request.
#[derive(Clone, Default)]
pub struct CallContext {
    /// The call must be over by then, retries included.
    pub deadline: Option<Instant>,
    /// Extra headers to send upstream (name, value).
    pub headers: Vec<(String, String)>,
    /// A base overriding the provider's configured one for this call.
    pub api_base: Option<ApiBase>,
    /// A key overriding the provider's configured one for this call.
    pub api_key: Option<SecretString>,
    /// Where the provider reports its retry stats.
    pub stats: RetryStatsSlot,
    /// A cap on the provider's own retries for this call (`None`: its policy decides).
    /// The router sets 0 while another target could take a failure at once, so retries
    /// and waits on hints happen at the router (SPEC §13).
    pub max_retries: Option<u32>,
}

impl CallContext {
    /// A context with no deadline, headers or overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the deadline.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Add a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("deadline", &self.deadline)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("max_retries", &self.max_retries)
            .finish()
    }
}
