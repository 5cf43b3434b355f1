//! Build a Router from configuration, run a parallel batch, read the metadata.
//!
//! With nothing configured, `codex-agent/…` models go to an embedded echo sidecar, so this
//! runs anywhere: `cargo run -p library-consumer`.

use std::sync::Arc;

use scillm_core::config::ConfigLoader;
use scillm_core::wire::{ChatRequest, Message};
use scillm_router::{ParallelOptions, RequestItem, Router, RouterRequest};

// Linking the provider crate is what registers `codex-agent` with the registry.
use scillm_provider_codex as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Arc::new(ConfigLoader::new().load()?);
    let router = Router::new(config)?;

    let schema = serde_json::json!({"type": "object", "required": ["answer"]});
    let items: Vec<RequestItem> = vec![
        ChatRequest::new("codex-agent/gpt-5", vec![Message::user("Say hello")]).into(),
        RouterRequest::new(ChatRequest::new(
            "codex-agent/gpt-5",
            vec![Message::user("JSON please")],
        ))
        .schema_first(schema)
        .into(),
        RequestItem::from_json_line("{this line is not JSON"),
    ];
    let results = router.parallel(items, ParallelOptions::default()).await;
    anyhow::ensure!(results.len() == 3, "one result per request");

    for r in &results {
        let m = &r.meta;
        eprintln!(
            "#{} error_type={} provider={:?} content={:?} json_valid={:?}",
            m.index,
            m.error_type.as_str(),
            m.provider,
            r.content(),
            m.json_valid
        );
    }
    anyhow::ensure!(results[0].is_ok(), "the plain request should succeed");
    anyhow::ensure!(
        results[1].meta.error_type.as_str() == "invalid_json",
        "echo text is not JSON"
    );
    anyhow::ensure!(
        results[2].meta.error_type.as_str() == "provider_error",
        "bad line keeps its slot"
    );
    Ok(())
}
