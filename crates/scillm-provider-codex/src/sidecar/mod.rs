//! The codex sidecar server.
