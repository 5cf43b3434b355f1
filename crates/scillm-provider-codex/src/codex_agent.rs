//! The codex-agent provider (alias `codex_cli_agent`): OpenAI chat calls to a codex
//! sidecar or gateway at `{base}/v1/chat/completions`.
//!
//! The base is the call's override, else the deployment's, else `codex_agent.api_base`
//! (`CODEX_AGENT_API_BASE`), else the embedded sidecar. Requests are forced local
//! (`X-Codex-Force-Local: 1`), lose the sampling knobs codex ignores, and carry
//! `reasoning_effort` also as `reasoning.effort`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use scillm_core::secrecy::SecretString;
use scillm_core::wire::{ChatRequest, ChatResponse, Content};
use scillm_core::{
    ApiBase, CallContext, ChunkStream, Config, Provider, ProviderError, ProviderRegistration,
    ProviderSettings, SharedProvider,
};
use serde_json::Value;

use tracing::Instrument;

use crate::client::{
    build_headers, chat_span, chat_url, record_answer, record_error, record_failed_before_sending,
    set_stream_mode, HttpChatClient, UpstreamCall,
};

/// The registered name.
pub const NAME: &str = "codex-agent";

/// Model id prefixes that only select this provider and are not sent upstream.
pub const MODEL_PREFIXES: &[&str] = &["codex-agent/", "codex/"];

/// Request fields codex does not accept, never sent.
pub const DROPPED_PARAMS: &[&str] = &["top_p", "presence_penalty", "frequency_penalty"];

/// The header that keeps a sidecar in forward mode from proxying the request away.
const FORCE_LOCAL: (&str, &str) = ("x-codex-force-local", "1");

scillm_core::inventory::submit! {
    ProviderRegistration {
        name: NAME,
        aliases: &["codex_cli_agent"],
        description: "Codex via the codex sidecar or an OpenAI-compatible codex gateway (CODEX_AGENT_API_BASE; embedded sidecar when unset)",
        build,
    }
}

fn build(settings: &ProviderSettings) -> Result<SharedProvider, ProviderError> {
    Ok(Arc::new(CodexAgentProvider::new(settings)?))
}

/// The codex-agent provider. One instance holds one pooled HTTP client.
pub struct CodexAgentProvider {
    client: HttpChatClient,
    config: Arc<Config>,
    api_base: Option<ApiBase>,
    api_key: Option<SecretString>,
    model: Option<String>,
}

impl CodexAgentProvider {
    /// A provider for `settings`: the deployment's base, key and model win over
    /// `codex_agent.*` of the config.
    pub fn new(settings: &ProviderSettings) -> Result<Self, ProviderError> {
        let cfg = &settings.config.codex_agent;
        // A deployment's `num_retries` / `timeout_s` win over `codex_agent.*`.
        let mut policy = cfg.retry_policy();
        if let Some(n) = settings.num_retries {
            policy.max_retries = n;
        }
        let timeout = settings.timeout.unwrap_or_else(|| cfg.attempt_timeout());
        let deadline = cfg.deadline();
        Ok(Self {
            client: HttpChatClient::with_policy(NAME, policy, timeout, deadline)?,
            config: Arc::clone(&settings.config),
            api_base: settings.api_base.clone().or_else(|| cfg.api_base.clone()),
            api_key: settings.api_key.clone().or_else(|| cfg.api_key.clone()),
            model: settings.model.clone(),
        })
    }

    /// The base and key for one call: the call's override, the configured base (with the
    /// call's or configured key), else the embedded sidecar (started on first use) with
    /// its own random key.
    async fn base_for(
        &self,
        ctx: &CallContext,
    ) -> Result<(ApiBase, Option<SecretString>), ProviderError> {
        if let Some(b) = ctx.api_base.as_ref().or(self.api_base.as_ref()) {
            let key = ctx.api_key.as_ref().or(self.api_key.as_ref()).cloned();
            return Ok((b.clone(), key));
        }
        let embedded = crate::embedded::ensure_embedded_sidecar(&self.config).await?;
        Ok((embedded.base, Some(embedded.api_key)))
    }

    async fn prepare(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
        stream: bool,
    ) -> Result<UpstreamCall, ProviderError> {
        let (base, key) = self.base_for(ctx).await?;
        UpstreamCall::new(
            chat_url(&base)?,
            build_headers(&ctx.headers, key.as_ref(), &[FORCE_LOCAL])?,
            &upstream_request(request, self.model.as_deref(), stream),
        )
    }
}

impl fmt::Debug for CodexAgentProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodexAgentProvider")
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("model", &self.model)
            .field("retry", self.client.policy())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for CodexAgentProvider {
    fn name(&self) -> &str {
        NAME
    }

    async fn chat(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        let model = upstream_model(self.model.as_deref().unwrap_or(&request.model));
        let span = chat_span(NAME, model);
        let answer = async {
            let call = self.prepare(request, ctx, false).await.inspect_err(|_| {
                record_failed_before_sending(ctx);
            })?;
            let mut resp = self.client.chat(call, ctx).await?;
            null_content_to_empty(&mut resp);
            Ok(resp)
        }
        .instrument(span.clone())
        .await;
        record_answer(&span, &answer);
        answer
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let model = upstream_model(self.model.as_deref().unwrap_or(&request.model));
        let span = chat_span(NAME, model);
        async {
            let call = self.prepare(request, ctx, true).await.inspect_err(|_| {
                record_failed_before_sending(ctx);
            })?;
            self.client.chat_stream(call, ctx).await
        }
        .instrument(span.clone())
        .await
        .inspect_err(|e| record_error(&span, e))
    }
}

/// The model id sent upstream: a `codex-agent/` or `codex/` prefix removed.
pub fn upstream_model(model: &str) -> &str {
    MODEL_PREFIXES
        .iter()
        .find_map(|p| model.strip_prefix(p))
        .unwrap_or(model)
}

/// The request sent to codex for `request`: the request as given, with the model
/// prefix stripped (or the deployment's `model`), [`DROPPED_PARAMS`] removed, and a
/// string `reasoning_effort` also set as `reasoning.effort` when that is absent.
pub fn upstream_request(
    mut request: ChatRequest,
    deployment_model: Option<&str>,
    stream: bool,
) -> ChatRequest {
    let model = deployment_model.unwrap_or(&request.model);
    request.model = upstream_model(model).to_string();
    set_stream_mode(&mut request, stream);
    request.top_p = None;
    for p in DROPPED_PARAMS {
        request.extra.remove(*p);
    }
    if let Some(Value::String(effort)) = &request.reasoning_effort {
        let effort = Value::String(effort.clone());
        match &mut request.reasoning {
            None => request.reasoning = Some(serde_json::json!({ "effort": effort })),
            Some(Value::Object(m)) => {
                m.entry("effort").or_insert(effort);
            }
            // A non-object `reasoning` is the caller's choice: sent as given.
            Some(_) => {}
        }
    }
    request
}

/// Make every choice's `null` (or absent) content an empty string.
pub fn null_content_to_empty(resp: &mut ChatResponse) {
    for choice in &mut resp.choices {
        match &choice.message.content {
            None | Some(Content::Null) => {
                choice.message.content = Some(Content::Text(String::new()));
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scillm_core::wire::Message;

    fn req(json: Value) -> ChatRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn prefixes_are_stripped_once() {
        assert_eq!(upstream_model("codex-agent/gpt-5"), "gpt-5");
        assert_eq!(upstream_model("codex/gpt-5"), "gpt-5");
        assert_eq!(upstream_model("gpt-5"), "gpt-5");
        assert_eq!(upstream_model("openai/gpt-5"), "openai/gpt-5");
    }

    #[test]
    fn body_drops_codex_unsupported_params_and_maps_reasoning_effort() {
        let r = req(serde_json::json!({
            "model": "codex-agent/gpt-5",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2, "top_p": 0.9, "presence_penalty": 1, "frequency_penalty": 1,
            "reasoning_effort": "high", "stream": true, "stream_options": {"include_usage": true},
            "vendor_x": {"a": 1}
        }));
        let body = serde_json::to_value(upstream_request(r, None, false)).unwrap();
        assert_eq!(body["model"], "gpt-5");
        assert_eq!(body["temperature"], serde_json::json!(0.2));
        assert_eq!(body["reasoning_effort"], "high");
        assert_eq!(body["reasoning"], serde_json::json!({"effort": "high"}));
        assert_eq!(body["vendor_x"], serde_json::json!({"a": 1}));
        for gone in [
            "top_p",
            "presence_penalty",
            "frequency_penalty",
            "stream",
            "stream_options",
        ] {
            assert!(body.get(gone).is_none(), "{gone} sent");
        }
    }

    #[test]
    fn an_explicit_reasoning_effort_wins_and_deployment_model_is_used() {
        let r = req(serde_json::json!({
            "model": "alias", "messages": [],
            "reasoning_effort": "high", "reasoning": {"effort": "low", "summary": "auto"}
        }));
        let body =
            serde_json::to_value(upstream_request(r, Some("codex/gpt-5-mini"), true)).unwrap();
        assert_eq!(
            body["reasoning"],
            serde_json::json!({"effort": "low", "summary": "auto"})
        );
        assert_eq!(body["model"], "gpt-5-mini");
        assert_eq!(body["stream"], true);
    }

    #[test]
    fn null_content_becomes_empty_text() {
        let mut resp = ChatResponse::from_text("id", "m", "x");
        resp.choices[0].message.content = Some(Content::Null);
        let mut second = resp.choices[0].clone();
        second.message = Message::assistant("kept");
        resp.choices.push(second);
        null_content_to_empty(&mut resp);
        assert_eq!(
            resp.choices[0].message.content,
            Some(Content::Text(String::new()))
        );
        assert_eq!(resp.choices[1].message.text_content(), "kept");
    }
}
