"""scillm: the Python original's ``Router(...).parallel_acompletions`` on the scillm-rs
Rust core (SPEC §19).

>>> import asyncio, scillm
>>> router = scillm.Router(model_list=[{"model_name": "gpt-5",
...     "litellm_params": {"model": "codex-agent/gpt-5"}}])
>>> results = asyncio.run(router.parallel_acompletions(
...     [{"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}]))
>>> results[0]["scillm_router"]["error_type"]
'ok'

Every result is a dict, exactly the JSON line ``scillm batch`` writes: the OpenAI response
object plus ``scillm_router`` (``error_type``, ``error_kind``, ``index``, ``timing_ms``, …).
Rust does the work without the GIL; cancelling the asyncio task that awaits a call cancels
it (requests not started never start, requests in flight are dropped).

The configuration is read when a ``Router`` is built: ``SCILLM_CONFIG`` or
``./scillm.toml``, then the environment (``CODEX_AGENT_API_BASE``, ``SCILLM_RETRY_META``, …),
then the arguments.
"""

from __future__ import annotations

import atexit
import json
import time
import warnings
from typing import Any, AsyncIterator, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import _scillm
from ._config import build_config, unused_warning
from ._errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    InternalError,
    InternalServerError,
    InvalidRequestError,
    InvalidResponseError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
    RequestCancelledError,
    ScillmError,
    Timeout,
    UnsupportedError,
    error_from_result,
    is_failure,
)

__version__: str = _scillm.__version__

__all__ = [
    "Router",
    "Server",
    "start_sidecar",
    "start_mini_agent",
    "ScillmError",
    "ConfigError",
    "AuthenticationError",
    "NotFoundError",
    "RateLimitError",
    "BadRequestError",
    "InternalServerError",
    "Timeout",
    "APIConnectionError",
    "InvalidResponseError",
    "InvalidRequestError",
    "UnsupportedError",
    "RequestCancelledError",
    "InternalError",
    "OverloadedError",
    "__version__",
]



@atexit.register
def _let_completions_finish() -> None:
    """Release the GIL briefly before the interpreter finalizes.

    A call's result is handed to its event loop from a runtime thread that holds the GIL
    only around ``call_soon_threadsafe``; waking the loop lets the main thread run on to
    shutdown while that thread waits to take the GIL back. Taking it during finalization
    ends the thread abruptly (a crash at exit). Sleeping here hands the GIL to any such
    waiting thread so it returns first.
    """
    time.sleep(0.02)


Request = Mapping[str, Any]
Result = Dict[str, Any]


def _request(request: Request) -> Any:
    """The Python original's ``{"model", "messages", "kwargs": {...}}`` form merged into one
    request (SPEC §13); any other request unchanged."""
    if isinstance(request, Mapping) and isinstance(request.get("kwargs"), Mapping):
        merged = {k: v for k, v in request.items() if k != "kwargs"}
        merged.update(request["kwargs"])
        return merged
    return request


def _dump_requests(requests: Iterable[Request]) -> str:
    items = [_request(r) for r in requests]
    try:
        return json.dumps(items, allow_nan=False)
    except (TypeError, ValueError):
        for i, item in enumerate(items):
            try:
                json.dumps(item, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise TypeError(f"requests[{i}] is not JSON-serialisable: {e}") from None
        raise


def _dump_request(request: Request) -> str:
    try:
        return json.dumps(_request(request), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"the request is not JSON-serialisable: {e}") from None


def _checked(line: str) -> Result:
    result: Result = json.loads(line)
    if is_failure(result):
        raise error_from_result(result)
    return result


class Router:
    """Routes chat requests to deployments and runs them in parallel.

    ``Router(model_list=[...], **router_settings)``: ``model_list`` entries in the Python
    original's form (``{"model_name", "custom_llm_provider", "api_base", "api_key"}``) or
    LiteLLM's (``{"model_name", "litellm_params": {"model": "openai/gpt-4o", "api_base",
    "api_key": "os.environ/KEY"}}``). Router settings: ``concurrency``, ``timeout`` (seconds
    per request), ``cooldown_time``, ``fallbacks`` (LiteLLM's list of dicts or a dict),
    ``retry_meta``, ``debug_parallel``; other LiteLLM settings are accepted and named in a
    warning. Requests may also name a provider themselves (``custom_llm_provider``,
    ``api_base``, ``api_key``), as in the runbook's probe.

    Raises:
        ConfigError: the configuration cannot be loaded (the message names the key).
        TypeError: an unknown keyword argument.
    """

    def __init__(self, model_list: Optional[Sequence[Mapping[str, Any]]] = None, **router_settings: Any) -> None:
        config = build_config(model_list, router_settings)
        try:
            self._native = _scillm.Router(json.dumps(config))
        except ValueError as e:
            raise ConfigError(str(e)) from None
        warning = unused_warning(self._native.unused_settings())
        if warning is not None:
            warnings.warn(warning, stacklevel=2)

    @property
    def model_names(self) -> List[str]:
        """The model names of ``model_list``, sorted."""
        return self._native.model_names()

    async def parallel_acompletions(
        self,
        requests: Iterable[Request],
        concurrency: int = 16,
        timeout: Optional[float] = None,
        fail_fast: bool = False,
        preserve_order: bool = True,
        return_exceptions: bool = True,
    ) -> List[Result]:
        """Run ``requests`` with at most ``concurrency`` in flight; one result dict per
        request.

        Args:
            requests: chat requests (``model``, ``messages``, any OpenAI field, and the
                routing keys ``custom_llm_provider``, ``api_base``, ``api_key``,
                ``response_mode``, ``json_schema``, ``timeout``; or the original's
                ``{"model", "messages", "kwargs"}``).
            concurrency: requests in flight at once (at least 1).
            timeout: seconds per request (``None``: the router's ``timeout``, else none).
            fail_fast: on the first result that is not ``ok``, cancel the rest (their
                slots get ``cancelled`` errors).
            preserve_order: results in input order (``True``) or in completion order;
                ``scillm_router.index`` always gives the input position.
            return_exceptions: failed calls (``provider_error``, ``timeout``) are error
                dicts in their slots (``True``), or the first one raises (``False``, the
                rest is cancelled). ``invalid_json`` and ``empty_content`` are answers and
                never raise.

        Returns:
            A list with exactly one dict per request, each the JSON line ``scillm batch``
            writes.

        Raises:
            ScillmError: (a subclass per ``error_kind``) with ``return_exceptions=False``.
            TypeError: a request that cannot be turned into JSON.
        """
        payload = _dump_requests(requests)
        failed, results = await self._native.parallel(
            payload, concurrency, timeout, fail_fast, preserve_order, not return_exceptions
        )
        if failed is not None:
            raise error_from_result(json.loads(failed))
        return json.loads(results)

    async def parallel_as_completed(
        self,
        requests: Iterable[Request],
        concurrency: int = 16,
        timeout: Optional[float] = None,
        fail_fast: bool = False,
        return_exceptions: bool = True,
    ) -> AsyncIterator[Tuple[int, Result]]:
        """Like :meth:`parallel_acompletions`, but yield ``(index, result)`` as each request
        finishes. Leaving the loop early (``break``, an exception, cancellation) cancels
        the requests still running.

        Raises:
            ScillmError: with ``return_exceptions=False``, at the first failed call.
        """
        stream = self._native.stream(_dump_requests(requests), concurrency, timeout, fail_fast)
        try:
            while True:
                item = await stream.next()
                if item is None:
                    return
                index, line = item
                result: Result = json.loads(line)
                if not return_exceptions and is_failure(result):
                    raise error_from_result(result)
                yield index, result
        finally:
            stream.close()

    async def acompletion(self, **request: Any) -> Result:
        """One chat call: ``await router.acompletion(model=..., messages=[...], ...)``.

        Returns the result dict (with ``scillm_router``; ``invalid_json`` answers are
        returned, not raised). Raises the :class:`ScillmError` subclass of its
        ``error_kind`` when the call fails.
        """
        return _checked(await self._native.acompletion(_dump_request(request)))

    def completion(self, **request: Any) -> Result:
        """Blocking :meth:`acompletion` (the GIL is released while it runs)."""
        return _checked(self._native.completion(_dump_request(request)))


class Server:
    """A server started in this process: ``.base`` (``http://127.0.0.1:PORT``, no
    ``/v1``) and ``.close()``; also a context manager."""

    def __init__(self, native: Any, name: str) -> None:
        self._native = native
        self._name = name

    @property
    def base(self) -> str:
        """The base URL, without ``/v1`` (the runbook's base rule)."""
        return self._native.base

    def close(self) -> None:
        """Stop accepting, let requests in flight finish, and wait for the server to end."""
        self._native.close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<scillm {self._name} at {self.base}>"


def _env(env: Mapping[str, Any]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for name, value in env.items():
        if value is None:
            continue
        out[name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return out


def start_sidecar(**env: Any) -> Server:
    """Serve the codex sidecar in this process.

    Keyword arguments are environment variables set over the process environment for this
    server, e.g. ``start_sidecar(CODEX_SIDECAR_ECHO=1, CODEX_SIDECAR_PORT=0)`` (port 0: a
    free port; default 8077 on 127.0.0.1).

    Raises:
        ConfigError: a bad value, or a non-loopback host without an API key.
        OSError: the address cannot be bound.
    """
    try:
        return Server(_scillm.start_sidecar(_env(env)), "sidecar")
    except ValueError as e:
        raise ConfigError(str(e)) from None


def start_mini_agent(**env: Any) -> Server:
    """Serve the mini-agent shim in this process.

    Keyword arguments are environment variables set over the process environment, e.g.
    ``start_mini_agent(MINI_AGENT_API_PORT=0, MINI_AGENT_OPENAI_SHIM_MODE="echo")``
    (default 127.0.0.1:8788). The agent calls models through a router built from the same
    configuration (``MINI_AGENT_MODEL``).

    Raises:
        ConfigError: a bad value, or a non-loopback host without an API key.
    """
    try:
        return Server(_scillm.start_mini_agent(_env(env)), "mini-agent")
    except ValueError as e:
        raise ConfigError(str(e)) from None
