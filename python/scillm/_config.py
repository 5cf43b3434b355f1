"""Turn ``Router(model_list=[...], **router_settings)`` into a scillm configuration.

Two deployment forms are accepted (SPEC §6, §13):

- the Python original's flat form: ``{"model_name", "custom_llm_provider" | "provider",
  "model"?, "api_base"?, "api_key"?, "max_parallel_requests"?}``;
- LiteLLM's form: ``{"model_name", "litellm_params": {"model", "api_base"?, "api_key"?,
  "custom_llm_provider"?, "max_parallel_requests"?, ...}, "model_info"?}``, the provider
  taken from the model prefix (``openai/gpt-4o`` → provider ``openai``, model ``gpt-4o``)
  when not given.

String values ``os.environ/NAME`` read that environment variable (LiteLLM's rule). LiteLLM
keys that scillm does not use are named once in a warning; unknown keyword arguments of
``Router`` are a ``TypeError``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence

# Router keyword arguments with a scillm equivalent: LiteLLM name -> `[router]` key.
_ROUTER_RENAMES = {
    "timeout": "timeout_s",
    "cooldown_time": "cooldown_s",
}

# scillm's own `[router]` keys, accepted as keyword arguments too.
_ROUTER_KEYS = {
    "concurrency",
    "timeout_s",
    "cooldown_s",
    "retry_meta",
    "debug_parallel",
    "fallbacks",
}

# LiteLLM Router arguments that scillm accepts and does not use (named in a warning).
_LITELLM_IGNORED = {
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

# Deployment keys that scillm's `model_list` takes as they are.
_DEPLOYMENT_KEYS = ("api_base", "api_key", "max_parallel_requests")


def resolve_env(value: Any, where: str) -> Any:
    """``os.environ/NAME`` → the value of ``NAME``; anything else unchanged.

    Raises ``ValueError`` naming ``where`` when the variable is not set.
    """
    if isinstance(value, str) and value.startswith("os.environ/"):
        name = value[len("os.environ/") :]
        if name not in os.environ:
            raise ValueError(f"{where}: {value!r} names the environment variable {name}, which is not set")
        return os.environ[name]
    return value


def _split_provider(model: str) -> tuple[Optional[str], str]:
    if "/" in model:
        provider, rest = model.split("/", 1)
        return provider, rest
    return None, model


def deployment(entry: Mapping[str, Any], i: int) -> Dict[str, Any]:
    """One ``model_list`` entry in scillm's form; unused LiteLLM keys are returned in
    ``entry["__ignored__"]`` for the caller's warning."""
    where = f"model_list[{i}]"
    if not isinstance(entry, Mapping):
        raise TypeError(f"{where} must be a dict, not {type(entry).__name__}")
    if "model_name" not in entry:
        raise ValueError(f"{where} has no model_name")
    ignored: List[str] = [k for k in entry if k not in ("model_name", "litellm_params", "model_info")]
    if "litellm_params" in entry:
        params = dict(entry["litellm_params"])
        model = params.pop("model", None) or entry["model_name"]
        provider = params.pop("custom_llm_provider", None)
        if provider is None:
            provider, model = _split_provider(model)
        out: Dict[str, Any] = {"model_name": entry["model_name"], "provider": provider, "model": model}
        for key in _DEPLOYMENT_KEYS:
            if key in params:
                out[key] = resolve_env(params.pop(key), f"{where}.litellm_params.{key}")
        ignored = [f"litellm_params.{k}" for k in params] + ignored
    else:
        out = {k: v for k, v in entry.items() if k != "model_info"}
        ignored = []
        if "custom_llm_provider" in out:
            out["provider"] = out.pop("custom_llm_provider")
        if "provider" not in out and isinstance(out.get("model"), str):
            out["provider"], out["model"] = _split_provider(out["model"])
        for key in _DEPLOYMENT_KEYS:
            if key in out:
                out[key] = resolve_env(out[key], f"{where}.{key}")
    if not out.get("provider"):
        raise ValueError(
            f"{where} ({entry['model_name']!r}) names no provider: set custom_llm_provider, "
            "or prefix the model (codex-agent/…, openai/…, mini-agent/…)"
        )
    out = {k: v for k, v in out.items() if v is not None}
    out["__ignored__"] = ignored
    return out


def _fallbacks(value: Any) -> Dict[str, List[str]]:
    """LiteLLM's ``[{"a": ["b"]}, ...]`` or scillm's ``{"a": ["b"]}`` → ``{"a": ["b"]}``."""
    if isinstance(value, Mapping):
        return {str(k): list(v) for k, v in value.items()}
    out: Dict[str, List[str]] = {}
    for item in value or []:
        if not isinstance(item, Mapping):
            raise TypeError(f"fallbacks entries must be dicts like {{'model': ['other']}}, not {item!r}")
        for k, v in item.items():
            out.setdefault(str(k), []).extend(v)
    return out


def build_config(model_list: Optional[Sequence[Mapping[str, Any]]], settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The configuration object the native router loads (``scillm.toml`` keys)."""
    router: Dict[str, Any] = {}
    ignored: List[str] = []
    for key, value in settings.items():
        if key in _ROUTER_RENAMES:
            key = _ROUTER_RENAMES[key]
        if key == "fallbacks":
            router[key] = _fallbacks(value)
        elif key in _ROUTER_KEYS:
            if value is not None:
                router[key] = value
        elif key in _LITELLM_IGNORED:
            ignored.append(key)
        else:
            raise TypeError(
                f"Router() got an unexpected keyword argument {key!r}; scillm takes "
                f"{', '.join(sorted(_ROUTER_KEYS | set(_ROUTER_RENAMES)))} and LiteLLM's router settings"
            )
    config: Dict[str, Any] = {}
    if router:
        config["router"] = router
    if model_list is not None:
        deployments = [deployment(entry, i) for i, entry in enumerate(model_list)]
        for d in deployments:
            ignored.extend(f"{d['model_name']}: {k}" for k in d.pop("__ignored__"))
        config["model_list"] = deployments
    if ignored:
        warnings.warn(
            "scillm does not use these LiteLLM settings: " + ", ".join(ignored),
            stacklevel=3,
        )
    return config
