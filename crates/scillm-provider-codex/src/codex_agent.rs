//! The codex-agent provider.
