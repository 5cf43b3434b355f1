//! `scillm chat`: one request from a prompt, images and an optional JSON Schema.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use futures::StreamExt;
use scillm_core::wire::{ChatRequest, Content, ContentPart, Message};
use scillm_core::ApiBase;
use scillm_router::{Router, RouterRequest};

/// What `scillm chat` was asked.
#[derive(Debug, Clone, Default)]
pub struct ChatOptions {
    /// The model id.
    pub model: String,
    /// Image files to attach as `data:` URL parts.
    pub images: Vec<PathBuf>,
    /// A JSON Schema file: schema-first mode.
    pub json_schema: Option<PathBuf>,
    /// Stream the answer.
    pub stream: bool,
    /// Provider override.
    pub provider: Option<String>,
    /// Base override (no `/v1`).
    pub api_base: Option<String>,
    /// Headers sent upstream, each `Name: value` (`--header`).
    pub headers: Vec<String>,
}

/// Split a `--header` value `Name: value` (curl's form) into name and value.
pub fn parse_header(raw: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = raw
        .split_once(':')
        .filter(|(n, _)| !n.trim().is_empty() && !n.trim().contains(char::is_whitespace))
        .ok_or_else(|| {
            anyhow::anyhow!("--header must look like 'Name: value' (e.g. --header 'X-Trace: 1')")
        })?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// The MIME type of an image file, from its extension.
pub fn image_mime(path: &Path) -> anyhow::Result<&'static str> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => anyhow::bail!(
            "{}: unsupported image type (use .png, .jpg, .gif or .webp)",
            path.display()
        ),
    })
}

/// Build the router request.
pub fn build_request(prompt: &str, opts: &ChatOptions) -> anyhow::Result<RouterRequest> {
    let content = if opts.images.is_empty() {
        Content::Text(prompt.to_string())
    } else {
        let mut parts = vec![ContentPart::text(prompt)];
        for p in &opts.images {
            let mime = image_mime(p)?;
            let bytes =
                std::fs::read(p).with_context(|| format!("cannot read image {}", p.display()))?;
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            parts.push(ContentPart::image_url(format!("data:{mime};base64,{b64}")));
        }
        Content::Parts(parts)
    };
    let mut msg = Message::user("");
    msg.content = Some(content);
    let mut chat = ChatRequest::new(opts.model.clone(), vec![msg]);
    if opts.stream {
        chat.stream = Some(true);
    }
    let mut req = RouterRequest::new(chat);
    if let Some(path) = &opts.json_schema {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let schema: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        req = req.schema_first(schema);
    }
    if let Some(p) = &opts.provider {
        req = req.with_provider(p.clone());
    }
    if let Some(b) = &opts.api_base {
        req = req.with_api_base(ApiBase::parse(b).context("--api-base")?);
    }
    for raw in &opts.headers {
        let (name, value) = parse_header(raw)?;
        req = req.with_header(name, value);
    }
    Ok(req)
}

/// Run a streamed request, handing each piece of text to `on_text` as it arrives.
pub async fn stream(
    router: &Router,
    request: RouterRequest,
    on_text: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let mut chunks = router.chat_stream(request).await?;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        for choice in &chunk.choices {
            on_text(choice.delta.text_str());
        }
    }
    Ok(())
}
