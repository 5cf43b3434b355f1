"""start_sidecar / start_mini_agent: handles with .base and .close(), served in-process and
reached by the official OpenAI Python SDK and by the router."""

from __future__ import annotations

import urllib.error

import openai
import pytest

import scillm
from conftest import get_json


def test_start_sidecar_serves_the_echo_sidecar_until_closed() -> None:
    with scillm.start_sidecar(CODEX_SIDECAR_ECHO=True, CODEX_SIDECAR_PORT=0, CODEX_SIDECAR_ECHO_REPLY="from python") as sidecar:
        assert sidecar.base.startswith("http://127.0.0.1:") and not sidecar.base.endswith("/v1")
        assert get_json(f"{sidecar.base}/healthz")["ok"] is True
        client = openai.OpenAI(base_url=f"{sidecar.base}/v1", api_key="unused")
        reply = client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "from python"
        router = scillm.Router(model_list=[{"model_name": "codex", "custom_llm_provider": "codex-agent", "api_base": sidecar.base}])
        assert router.completion(model="codex", messages=[{"role": "user", "content": "hi"}])["choices"][0]["message"]["content"] == "from python"
        base = sidecar.base
    with pytest.raises(urllib.error.URLError):
        get_json(f"{base}/healthz")
    sidecar.close()  # closing twice does nothing


def test_start_mini_agent_serves_the_shim_until_closed() -> None:
    shim = scillm.start_mini_agent(MINI_AGENT_API_PORT=0, MINI_AGENT_OPENAI_SHIM_MODE="echo")
    try:
        assert get_json(f"{shim.base}/healthz")["ok"] is True
        client = openai.OpenAI(base_url=f"{shim.base}/v1", api_key="unused")
        reply = client.chat.completions.create(model="mini", messages=[{"role": "user", "content": "ping"}])
        assert reply.choices[0].message.content
    finally:
        shim.close()
    with pytest.raises(urllib.error.URLError):
        get_json(f"{shim.base}/healthz")


def test_a_non_loopback_bind_without_a_key_is_refused() -> None:
    with pytest.raises(scillm.ConfigError, match="0.0.0.0"):
        scillm.start_sidecar(CODEX_SIDECAR_HOST="0.0.0.0", CODEX_SIDECAR_PORT=0)
    with pytest.raises(scillm.ConfigError, match="0.0.0.0"):
        scillm.start_mini_agent(MINI_AGENT_API_HOST="0.0.0.0", MINI_AGENT_API_PORT=0)
