//! The mini-agent: a sandboxed tool-using agent loop and its OpenAI-compatible shim.
