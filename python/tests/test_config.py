"""Router configuration from the Python original's and LiteLLM's model_list forms."""

from __future__ import annotations

import asyncio
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
    entry = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": mock.base, "rpm": 10}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scillm.Router(model_list=[entry], routing_strategy="least-busy", num_retries=3)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    for key in ("routing_strategy", "num_retries", "litellm_params.rpm"):
        assert key in messages[0]


def test_bad_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="routing_stratgy"):
        scillm.Router(model_list=[], routing_stratgy="x")
    with pytest.raises(scillm.ConfigError, match="/v1"):
        scillm.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1"}}])
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ValueError, match="NOT_SET_ANYWHERE"):
        scillm.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "os.environ/NOT_SET_ANYWHERE"}}])
    with pytest.raises(ValueError, match="no provider"):
        scillm.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "m"}}])
    with pytest.raises(scillm.ConfigError, match="nonexistent-provider"):
        scillm.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "nonexistent-provider/m"}}])
