"""The interpreter exits cleanly right after a call: the runtime thread that hands a result
to the event loop is done before finalization (a race here crashed the process at exit)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import asyncio, scillm
r = scillm.Router()
req = {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}], "custom_llm_provider": "codex-agent"}
print(asyncio.run(r.parallel_acompletions([req] * 4))[0]["scillm_router"]["error_type"])
"""


def test_the_process_exits_cleanly_after_a_batch() -> None:
    env = {**os.environ, "CODEX_SIDECAR_ECHO": "1"}
    for _ in range(10):
        done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "ok"
