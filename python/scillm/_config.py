"""Turn ``Router(model_list=[...], **router_settings)`` into a scillm configuration.

Two deployment forms are accepted (SPEC §6, §13):

- the Python original's flat form: ``{"model_name", "custom_llm_provider" | "provider",
  "model"?, "api_base"?, "api_key"?, "max_parallel_requests"?, ...}`` (any key of
  scillm's ``model_list``: ``rpm``, ``tpm``, ``timeout_s``, ``weight``, ``order``, ...);
- LiteLLM's form: ``{"model_name", "litellm_params": {"model", "api_base"?, "api_key"?,
  "rpm"?, "tpm"?, "timeout"?, "weight"?, "order"?, ...}, "model_info"?}``, translated by
  the native router exactly as a LiteLLM ``config.yaml`` is (provider from the model
  prefix, a bare model id being an OpenAI model).

String values ``os.environ/NAME`` read that environment variable (LiteLLM's rule). Router
keyword arguments are scillm's ``[router]`` keys or LiteLLM's ``Router`` arguments (as its
``router_settings``); LiteLLM keys that scillm does not use are named once in a warning;
unknown keyword arguments are a ``TypeError``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

# scillm's own `[router]` keys, accepted as keyword arguments too.
_ROUTER_KEYS = {
    "concurrency",
    "timeout_s",
    "cooldown_s",
    "retry_meta",
    "debug_parallel",
    "routing_strategy",
    "num_retries",
    "allowed_fails",
}

# LiteLLM `Router` arguments, passed on as its `router_settings` (the native router takes
# `timeout`, `cooldown_time`, `fallbacks`, `routing_strategy`, `num_retries`,
# `allowed_fails` and names the rest as unused).
_LITELLM_ROUTER_ARGS = {
    "timeout",
    "cooldown_time",
    "fallbacks",
    "routing_strategy",
    "routing_strategy_args",
    "num_retries",
    "retry_after",
    "allowed_fails",
    "allowed_fails_policy",
    "retry_policy",
    "set_verbose",
    "debug_level",
    "cache_responses",
    "caching_groups",
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
    "default_litellm_params",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "enable_pre_call_checks",
    "model_group_alias",
    "default_max_parallel_requests",
    "polling_interval",
    "stream_timeout",
}


def _split_provider(model: str) -> tuple[Optional[str], str]:
    if "/" in model:
        provider, rest = model.split("/", 1)
        return provider, rest
    return None, model


def deployment(entry: Mapping[str, Any], i: int) -> Dict[str, Any]:
    """One ``model_list`` entry for the native router: LiteLLM's form as it is (without
    ``model_info``), the flat form with its provider named."""
    where = f"model_list[{i}]"
    if not isinstance(entry, Mapping):
        raise TypeError(f"{where} must be a dict, not {type(entry).__name__}")
    if "model_name" not in entry:
        raise ValueError(f"{where} has no model_name")
    out = {k: v for k, v in entry.items() if k != "model_info" and v is not None}
    if "litellm_params" in out:
        return out
    if "custom_llm_provider" in out:
        out["provider"] = out.pop("custom_llm_provider")
    if "provider" not in out and isinstance(out.get("model"), str):
        provider, model = _split_provider(out["model"])
        if provider is not None:
            out["provider"], out["model"] = provider, model
    if not out.get("provider"):
        raise ValueError(
            f"{where} ({entry['model_name']!r}) names no provider: set custom_llm_provider, "
            "or prefix the model (codex-agent/…, openai/…, mini-agent/…)"
        )
    return out


def build_config(model_list: Optional[Sequence[Mapping[str, Any]]], settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The configuration object the native router loads: ``model_list``, scillm's
    ``router`` keys and LiteLLM's ``router_settings``."""
    router: Dict[str, Any] = {}
    router_settings: Dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue
        if key in _ROUTER_KEYS:
            router[key] = value
        elif key in _LITELLM_ROUTER_ARGS:
            router_settings[key] = value
        else:
            raise TypeError(
                f"Router() got an unexpected keyword argument {key!r}; scillm takes "
                f"{', '.join(sorted(_ROUTER_KEYS))} and LiteLLM's Router arguments "
                f"({', '.join(sorted(_LITELLM_ROUTER_ARGS))})"
            )
    config: Dict[str, Any] = {}
    if router:
        config["router"] = router
    if router_settings:
        config["router_settings"] = router_settings
    if model_list is not None:
        config["model_list"] = [deployment(entry, i) for i, entry in enumerate(model_list)]
    return config


def unused_warning(unused: List[str]) -> Optional[str]:
    """The one warning naming the LiteLLM keys the native router left unused, or ``None``."""
    if not unused:
        return None
    names = [k.removeprefix("router_settings.") for k in unused]
    return "scillm does not use these LiteLLM settings: " + ", ".join(names)
