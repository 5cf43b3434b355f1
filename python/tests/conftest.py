"""Fixtures: the chat mock (scillm-testkit's `chat-mock` binary, a separate process on a
loopback port) and a clean configuration environment for every test.

`cargo xtask test` builds the binaries and sets SCILLM_TEST_CHAT_MOCK / SCILLM_TEST_SCILLM;
run by hand, the debug builds under target/ are used. A missing binary fails the test
(never a skip).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The embedded sidecar answers in echo mode; no configured base or file leaks in.
os.environ["CODEX_SIDECAR_ECHO"] = "1"
for name in ("CODEX_AGENT_API_BASE", "SCILLM_CODEX_AGENT_API_BASE", "LITELLM_CODEX_AGENT_API_BASE", "SCILLM_CONFIG"):
    os.environ.pop(name, None)


def binary(env_name: str, default: str) -> Path:
    """A binary named by `env_name`, else target/debug/`default`; fails when missing."""
    path = Path(os.environ.get(env_name) or ROOT / "target" / "debug" / default)
    if not path.is_file():
        pytest.fail(f"{path} does not exist: build it (cargo build -p scillm-testkit -p scillm-cli --bins) or set {env_name}")
    return path


def get_json(url: str) -> Dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll `predicate` every 10 ms until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


class Mock:
    """The running chat mock: `.base` (no /v1) and its counters."""

    def __init__(self, base: str) -> None:
        self.base = base

    def stats(self) -> Dict[str, int]:
        return get_json(f"{self.base}/mock/stats")

    def deployment(self, name: str = "mock") -> Dict[str, Any]:
        """A deployment of the Python original's form on the openai provider."""
        return {"model_name": name, "custom_llm_provider": "openai", "api_base": self.base, "api_key": "test-key"}


@pytest.fixture(scope="session")
def mock() -> Iterator[Mock]:
    proc = subprocess.Popen([str(binary("SCILLM_TEST_CHAT_MOCK", "chat-mock"))], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening http://127.0.0.1:"), line
        m = Mock(line.split(" ", 1)[1])

        def healthy() -> bool:
            try:
                return get_json(f"{m.base}/healthz").get("ok") is True
            except OSError:
                return False

        wait_until(healthy, "the chat mock's /healthz")
        yield m
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in an empty directory, so no ./scillm.toml is read."""
    monkeypatch.chdir(tmp_path)


def user(text: str) -> Dict[str, Any]:
    return {"model": "mock", "messages": [{"role": "user", "content": text}]}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With SCILLM_REQUIRE_EXTERNAL=1 (as `cargo xtask test` runs it) a skipped test fails
    the run: every test here has what it needs."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and os.environ.get("SCILLM_REQUIRE_EXTERNAL") == "1":
        session.exitstatus = 1
