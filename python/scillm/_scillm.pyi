"""Type stubs of the native module ``scillm._scillm`` (built from python/src with PyO3).

Requests cross as JSON text and results come back as the JSON lines ``scillm batch``
writes; ``scillm/__init__.py`` wraps this into dicts and exceptions.
"""

from typing import Awaitable, Dict, List, Optional, Tuple

__version__: str

class Router:
    """A router built from a JSON object of ``scillm.toml`` keys or in LiteLLM's form
    (``litellm_params``, ``router_settings``, ``os.environ/NAME``), layered over
    ``SCILLM_CONFIG`` / ``./scillm.toml`` and the environment. Raises ``ValueError``."""

    def __init__(self, config_json: str) -> None: ...
    def unused_settings(self) -> List[str]:
        """The LiteLLM keys of the configuration that scillm does not use, sorted."""
    def model_names(self) -> List[str]:
        """The model names of ``model_list``, sorted."""
    def parallel(
        self,
        requests_json: str,
        concurrency: Optional[int] = None,
        timeout: Optional[float] = None,
        fail_fast: bool = False,
        preserve_order: bool = True,
        stop_on_error: bool = False,
    ) -> Awaitable[Tuple[Optional[str], Optional[str]]]:
        """Resolve to ``(None, "[line, ...]")`` or, with ``stop_on_error``, to
        ``(line, None)`` for the first failed call. Cancelling cancels the batch."""
    def stream(
        self,
        requests_json: str,
        concurrency: Optional[int] = None,
        timeout: Optional[float] = None,
        fail_fast: bool = False,
    ) -> ResultStream:
        """Start the batch; results as they finish."""
    def acompletion(self, request_json: str) -> Awaitable[str]:
        """One request; resolves to its result line."""
    def completion(self, request_json: str) -> str:
        """One request, blocking without the GIL; its result line."""

class ResultStream:
    """A running batch. Dropping or closing it cancels what is still running."""

    def next(self) -> Awaitable[Optional[Tuple[int, str]]]:
        """The next ``(index, line)``, or ``None`` at the end."""
    def close(self) -> None:
        """Cancel the items still running or waiting."""

class Server:
    """A server running in this process."""

    @property
    def base(self) -> str:
        """``http://HOST:PORT``, without ``/v1``."""
    def close(self) -> None:
        """Stop and wait for the server to end (idempotent)."""

def start_sidecar(env: Dict[str, str]) -> Server:
    """Serve the codex sidecar with ``env`` set over the process environment."""

def start_mini_agent(env: Dict[str, str]) -> Server:
    """Serve the mini-agent shim with ``env`` set over the process environment."""
