"""Router configuration from the Python original's and LiteLLM's model_list forms."""

from __future__ import annotations

import asyncio
import time
import warnings

import pytest

import scillm
from conftest import Mock


def test_a_litellm_model_list_with_litellm_params_works(mock: Mock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCK_UPSTREAM_KEY", "sekret-1")
    model_list = [
        {
            "model_name": "gpt-4o-mini",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": mock.base, "api_key": "os.environ/MOCK_UPSTREAM_KEY"},
            "model_info": {"id": "one"},
        }
    ]
    router = scillm.Router(model_list=model_list, timeout=30, cooldown_time=5, fallbacks=[{"gpt-4o-mini": ["gpt-4o-mini"]}])
    assert router.model_names == ["gpt-4o-mini"]
    # The mock answers 401 unless the key read from the environment was sent.
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi [require_auth=sekret-1]"}]}
    [result] = asyncio.run(router.parallel_acompletions([request]))
    meta = result["scillm_router"]
    assert (meta["error_type"], meta["provider"], meta["model"]) == ("ok", "openai", "gpt-4o-mini")
    assert result["model"] == "gpt-4o-mini", "the provider prefix is not sent upstream"


def test_the_python_originals_flat_deployment_works(mock: Mock) -> None:
    router = scillm.Router(model_list=[{**mock.deployment("flat"), "api_key": "k2"}], concurrency=2)
    result = router.completion(model="flat", messages=[{"role": "user", "content": "[require_auth=k2] hi"}])
    assert result["scillm_router"]["deployment"] == "flat#0"


def test_unused_litellm_settings_are_named_in_one_warning(mock: Mock) -> None:
    entry = {
        "model_name": "m",
        "litellm_params": {"model": "openai/m", "api_base": mock.base, "rpm": 10, "input_cost_per_token": 1e-6},
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scillm.Router(model_list=[entry], routing_strategy="least-busy", num_retries=3, set_verbose=True)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "set_verbose" in messages[0] and "litellm_params.input_cost_per_token" in messages[0]
    for used in ("routing_strategy", "num_retries", "rpm"):
        assert used not in messages[0], messages[0]


def test_litellm_deployment_limits_and_router_settings_apply(mock: Mock) -> None:
    # rpm 6 is one request per 10 s: with a 2 s timeout the second request is refused at
    # once as rate-limited instead of waiting (SPEC §13), so `rpm` reached the router.
    entry = {"model_name": "limited", "litellm_params": {"model": "openai/limited", "api_base": mock.base, "rpm": 6}}
    router = scillm.Router(model_list=[entry], timeout=2, num_retries=0)
    router.completion(model="limited", messages=[{"role": "user", "content": "first"}])
    started = time.monotonic()
    with pytest.raises(scillm.RateLimitError, match="rpm"):
        router.completion(model="limited", messages=[{"role": "user", "content": "second"}])
    assert time.monotonic() - started < 1.5


def test_bad_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="routing_stratgy"):
        scillm.Router(model_list=[], routing_stratgy="x")
    with pytest.raises(scillm.ConfigError, match="chat/completions"):
        scillm.Router(
            model_list=[{"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1/chat/completions"}}]
        )
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ValueError, match="NOT_SET_ANYWHERE"):
        scillm.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "os.environ/NOT_SET_ANYWHERE"}}])
    with pytest.raises(ValueError, match="no provider"):
        scillm.Router(model_list=[{"model_name": "m", "model": "m", "api_base": "http://127.0.0.1:9"}])
    with pytest.raises(scillm.ConfigError, match="nonexistent-provider"):
        scillm.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "nonexistent-provider/m"}}])
