"""Exceptions: one class per ``scillm_router.error_kind`` (SPEC §6), named as LiteLLM and
the OpenAI SDK name them where they have one.

Every class derives from :class:`ScillmError`, which carries the result dict it was made
from and its ``error_kind``, ``error_type``, ``status`` and ``index``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type


class ScillmError(Exception):
    """A failed call (``error_type`` ``provider_error`` or ``timeout``).

    Attributes:
        error_kind: the cause, e.g. ``"rate_limited"`` (``scillm_router.error_kind``).
        error_type: ``"provider_error"`` or ``"timeout"``.
        status: the upstream HTTP status, when there was one.
        index: the item's position in the batch (0 for a single call).
        result: the whole result dict, exactly as ``scillm batch`` writes it.
    """

    error_kind: Optional[str] = None

    def __init__(self, message: str, result: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        meta = (result or {}).get("scillm_router") or {}
        self.result: Optional[Dict[str, Any]] = result
        self.error_type: Optional[str] = meta.get("error_type")
        self.error_kind = meta.get("error_kind", type(self).error_kind)
        self.status: Optional[int] = meta.get("status")
        self.index: Optional[int] = meta.get("index")


class ConfigError(ScillmError, ValueError):
    """The configuration (``model_list``, router settings, environment) cannot be loaded."""


class AuthenticationError(ScillmError):
    """401/403 from upstream, or missing credentials (``auth``)."""

    error_kind = "auth"


class NotFoundError(ScillmError):
    """404 from upstream, or an unknown model (``not_found``)."""

    error_kind = "not_found"


class RateLimitError(ScillmError):
    """429 from upstream, or a wait longer than allowed (``rate_limited``)."""

    error_kind = "rate_limited"


class BadRequestError(ScillmError):
    """Another 4xx from upstream (``bad_request``)."""

    error_kind = "bad_request"


class InternalServerError(ScillmError):
    """5xx from upstream (``server``)."""

    error_kind = "server"


class Timeout(ScillmError):
    """The request's timeout or deadline ran out (``timeout``)."""

    error_kind = "timeout"


class APIConnectionError(ScillmError):
    """The connection could not be made or was reset (``connect``)."""

    error_kind = "connect"


class InvalidResponseError(ScillmError):
    """A 2xx whose body is not the expected JSON, or a broken stream (``invalid_response``)."""

    error_kind = "invalid_response"


class InvalidRequestError(ScillmError):
    """The request itself is malformed; caught before any call (``invalid_request``)."""

    error_kind = "invalid_request"


class UnsupportedError(ScillmError):
    """The provider is not compiled in, or the operation is not supported (``unsupported``)."""

    error_kind = "unsupported"


class RequestCancelledError(ScillmError):
    """The call was cancelled, e.g. by ``fail_fast`` (``cancelled``)."""

    error_kind = "cancelled"


class InternalError(ScillmError):
    """A bug or an unexpected condition inside scillm (``internal``)."""

    error_kind = "internal"


class OverloadedError(ScillmError):
    """Too many requests queued locally (``overloaded``)."""

    error_kind = "overloaded"


_BY_KIND: Dict[str, Type[ScillmError]] = {
    cls.error_kind: cls  # type: ignore[misc]
    for cls in (
        AuthenticationError,
        NotFoundError,
        RateLimitError,
        BadRequestError,
        InternalServerError,
        Timeout,
        APIConnectionError,
        InvalidResponseError,
        InvalidRequestError,
        UnsupportedError,
        RequestCancelledError,
        InternalError,
        OverloadedError,
    )
}

FAILED_TYPES = ("provider_error", "timeout")


def is_failure(result: Dict[str, Any]) -> bool:
    """Whether ``result`` is a failed call (the results ``return_exceptions=False`` raises)."""
    return (result.get("scillm_router") or {}).get("error_type") in FAILED_TYPES


def error_from_result(result: Dict[str, Any]) -> ScillmError:
    """The exception for a failed result: the class of its ``error_kind``."""
    meta = result.get("scillm_router") or {}
    kind = meta.get("error_kind") or ("timeout" if meta.get("error_type") == "timeout" else "internal")
    cls = _BY_KIND.get(kind, ScillmError)
    message = meta.get("exception") or f"{meta.get('error_type')} ({kind})"
    return cls(f"item {meta.get('index')}: {message}", result)
