//! Route a model name to the third-party `shout` provider through config alone.

use std::sync::Arc;

use scillm_core::config::ConfigLoader;
use scillm_core::wire::{ChatRequest, Message};
use scillm_router::{ParallelOptions, Router};

// Linking the crate registers the provider.
use third_party_provider as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ConfigLoader::new()
        .no_file()
        .set(
            "model_list",
            serde_json::json!([{"model_name": "loud", "provider": "shout"}]),
        )
        .load()?;
    let router = Router::new(Arc::new(config))?;
    let results = router
        .parallel(
            vec![ChatRequest::new(
                "loud",
                vec![Message::user("hello from a third party")],
            )],
            ParallelOptions::default(),
        )
        .await;
    let content = results.first().map(|r| r.content()).unwrap_or_default();
    eprintln!("shout answered: {content}");
    anyhow::ensure!(
        content == "HELLO FROM A THIRD PARTY",
        "unexpected answer {content:?}"
    );
    anyhow::ensure!(
        results[0].meta.provider.as_deref() == Some("shout"),
        "provider metadata names the third-party provider"
    );
    Ok(())
}
