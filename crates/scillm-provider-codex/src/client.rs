//! HTTP client code shared by the codex-agent and openai providers.
