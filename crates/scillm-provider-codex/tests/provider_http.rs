//! The codex-agent and openai providers against real HTTP servers on loopback.
#![cfg(all(feature = "codex-agent", feature = "openai"))]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Linking the crate registers its providers; the tests reach them through the registry.
use scillm_provider_codex as _;

#[path = "provider_http/openai.rs"]
mod openai;
#[path = "provider_http/request.rs"]
mod request;
#[path = "provider_http/retry.rs"]
mod retry;
#[path = "provider_http/stream.rs"]
mod stream;
#[path = "provider_http/support.rs"]
mod support;
#[path = "provider_http/wait_hints.rs"]
mod wait_hints;
