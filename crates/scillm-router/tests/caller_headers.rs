//! `extra_headers` on a request item reach the upstream (SPEC §13), streamed or not, on
//! `parallel` and on `chat_stream`; hop-by-hop headers are dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use futures::StreamExt;
use scillm_core::config::ConfigLoader;
use scillm_router::{ParallelOptions, Router, RouterRequest};
use scillm_testkit::chat_mock::ChatMock;
use serde_json::json;

// Links the openai provider (it registers through inventory).
use scillm_provider_codex as _;

#[tokio::test]
async fn extra_headers_are_sent_upstream() {
    let mock = ChatMock::builder()
        .content("hi back")
        .start()
        .await
        .unwrap();
    let config = ConfigLoader::new()
        .no_file()
        .env_from(Vec::<(String, String)>::new())
        .load()
        .unwrap();
    let router = Router::new(Arc::new(config)).unwrap();
    let item = |stream: bool| {
        json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream,
            "custom_llm_provider": "openai", "api_base": mock.base_url(),
            "extra_headers": {"X-Trace": "t-1", "OpenAI-Organization": "org-9", "Keep-Alive": "5"}
        })
    };
    let results = router
        .parallel(vec![item(false), item(true)], ParallelOptions::new())
        .await;
    for r in &results {
        assert!(r.is_ok(), "{}", r.to_value());
        assert_eq!(r.content(), "hi back");
    }
    let streamed = RouterRequest::from_value(item(true)).unwrap();
    let mut chunks = router.chat_stream(streamed).await.unwrap();
    while let Some(c) = chunks.next().await {
        c.unwrap();
    }
    let seen = mock.requests();
    assert_eq!(seen.len(), 3);
    for r in &seen {
        assert_eq!(r.header("x-trace"), Some("t-1"));
        assert_eq!(r.header("openai-organization"), Some("org-9"));
        assert_eq!(r.header("keep-alive"), None, "hop-by-hop header forwarded");
        assert!(
            r.body.get("extra_headers").is_none(),
            "extra_headers sent as a body field"
        );
    }
}
