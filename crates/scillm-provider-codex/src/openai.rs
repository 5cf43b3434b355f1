//! The openai provider: any OpenAI-compatible endpoint (OpenAI itself, vLLM, Ollama, a
//! LiteLLM proxy) at `{base}/v1/chat/completions`.
//!
//! It shares the HTTP client code of the codex-agent provider but not its settings: its
//! retries are the deployment's `num_retries` (else `[router] num_retries`), its
//! per-attempt timeout the deployment's `timeout_s` (else none: the router's per-request
//! deadline bounds the call), never `codex_agent.*` (SPEC §13). It sends the request as
//! given: no codex headers, no parameter drops, the model id untouched (unless the
//! deployment names one).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use scillm_core::secrecy::SecretString;
use scillm_core::wire::{ChatRequest, ChatResponse};
use scillm_core::{
    ApiBase, CallContext, ChunkStream, ErrorKind, Provider, ProviderError, ProviderRegistration,
    ProviderSettings, SharedProvider,
};

use tracing::Instrument;

use crate::client::{
    build_headers, chat_span, chat_url, record_answer, record_error, record_failed_before_sending,
    set_stream_mode, HttpChatClient, UpstreamCall,
};

/// The registered name.
pub const NAME: &str = "openai";

/// The base used when neither the call nor the deployment gives one.
pub const DEFAULT_BASE: &str = "https://api.openai.com";

/// The variable read for a key when the provider talks to [`DEFAULT_BASE`] without one.
pub const OPENAI_KEY_VAR: &str = "OPENAI_API_KEY";

scillm_core::inventory::submit! {
    ProviderRegistration {
        name: NAME,
        aliases: &["openai-compatible"],
        description: "Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, a LiteLLM proxy): deployment api_base + api_key",
        build,
    }
}

fn build(settings: &ProviderSettings) -> Result<SharedProvider, ProviderError> {
    Ok(Arc::new(OpenAiProvider::new(settings)?))
}

/// The openai provider. One instance holds one pooled HTTP client.
pub struct OpenAiProvider {
    client: HttpChatClient,
    api_base: ApiBase,
    /// The chat-completions URL of `api_base`, parsed once.
    url: reqwest::Url,
    api_key: Option<SecretString>,
    model: Option<String>,
}

impl OpenAiProvider {
    /// A provider for `settings`: the deployment's base (default [`DEFAULT_BASE`]), key
    /// and model. `OPENAI_API_KEY` is read once, here, and only when the base is
    /// OpenAI's own: a key is never sent to some other endpoint by accident.
    pub fn new(settings: &ProviderSettings) -> Result<Self, ProviderError> {
        let api_base = match &settings.api_base {
            Some(b) => b.clone(),
            None => ApiBase::parse(DEFAULT_BASE)
                .map_err(|e| ProviderError::new(ErrorKind::Internal, e.to_string()))?,
        };
        let api_key = settings.api_key.clone().or_else(|| {
            (api_base.as_str() == DEFAULT_BASE)
                .then(|| std::env::var(OPENAI_KEY_VAR).ok())
                .flatten()
                .filter(|k| !k.is_empty())
                .map(SecretString::from)
        });
        Ok(Self {
            client: HttpChatClient::with_policy(
                NAME,
                settings.config.router.retry_policy(settings.num_retries),
                settings.timeout.unwrap_or_default(),
                std::time::Duration::ZERO,
            )?,
            url: chat_url(&api_base)?,
            api_base,
            api_key,
            model: settings.model.clone(),
        })
    }

    fn prepare(
        &self,
        mut request: ChatRequest,
        ctx: &CallContext,
        stream: bool,
    ) -> Result<UpstreamCall, ProviderError> {
        let url = match &ctx.api_base {
            Some(base) => chat_url(base)?,
            None => self.url.clone(),
        };
        let key = ctx.api_key.as_ref().or(self.api_key.as_ref());
        if let Some(m) = &self.model {
            request.model.clone_from(m);
        }
        set_stream_mode(&mut request, stream);
        UpstreamCall::new(url, build_headers(&ctx.headers, key, &[])?, &request)
    }
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("model", &self.model)
            .field("retry", self.client.policy())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        NAME
    }

    async fn chat(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        let span = chat_span(NAME, self.model.as_deref().unwrap_or(&request.model));
        let answer = match self.prepare(request, ctx, false) {
            Ok(call) => self.client.chat(call, ctx).instrument(span.clone()).await,
            Err(e) => {
                record_failed_before_sending(ctx);
                Err(e)
            }
        };
        record_answer(&span, &answer);
        answer
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let span = chat_span(NAME, self.model.as_deref().unwrap_or(&request.model));
        let call = self.prepare(request, ctx, true).inspect_err(|e| {
            record_failed_before_sending(ctx);
            record_error(&span, e);
        })?;
        self.client
            .chat_stream(call, ctx)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_error(&span, e))
    }
}
