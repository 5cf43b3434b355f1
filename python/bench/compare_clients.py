"""Benchmark (not a test): in one Python process, the same chat requests against the same
zero-latency mock upstream through

- ``scillm.Router.parallel_acompletions`` (the Rust core),
- LiteLLM's ``Router.acompletion`` under ``asyncio.gather`` with a semaphore,
- the OpenAI SDK's ``AsyncOpenAI`` under ``asyncio.gather`` with a semaphore,

all at the same concurrency. Prints one JSON object: per client and round, requests, ok
count, wall seconds, requests per second, RSS before and peak RSS during the run (MiB; the
peak is reset before each run through /proc/self/clear_refs) and the growth per request
(KiB). Every client keeps all of its responses until the run ends, as a caller does.

Run by ``cargo xtask bench python``; by hand:
``python compare_clients.py --base http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List

# LiteLLM: no network at import (bundled model cost map), no telemetry, quiet.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "ERROR")

MODEL = "bench-model"


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Collect garbage, hand free heap pages back to the OS, then reset VmHWM to the current
    RSS (Linux: writing 5 to clear_refs), so each run starts from what is really in use."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def requests(n: int) -> List[Dict[str, Any]]:
    return [{"model": MODEL, "messages": [{"role": "user", "content": f"request {i}"}], "temperature": 0} for i in range(n)]


async def gathered(call: Callable[[Dict[str, Any]], Awaitable[Any]], reqs: List[Dict[str, Any]], concurrency: int) -> int:
    """`asyncio.gather` over every request, at most `concurrency` in flight, keeping every
    response (as a caller of gather does, and as scillm returns them); the ok count."""
    gate = asyncio.Semaphore(concurrency)

    async def one(r: Dict[str, Any]) -> Any:
        async with gate:
            try:
                return await call(r)
            except Exception as e:  # noqa: BLE001 - a failed call is kept as its exception
                return e

    replies = await asyncio.gather(*(one(r) for r in reqs))
    return sum(not isinstance(x, Exception) and bool(x.choices[0].message.content) for x in replies)


def make_clients(base: str, concurrency: int) -> Dict[str, Callable[[List[Dict[str, Any]]], Awaitable[int]]]:
    import litellm
    import openai

    import scillm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    deployment = {"model_name": MODEL, "litellm_params": {"model": f"openai/{MODEL}", "api_base": base, "api_key": "bench"}}
    sc = scillm.Router(model_list=[deployment])
    lite_dep = {"model_name": MODEL, "litellm_params": {**deployment["litellm_params"], "api_base": f"{base}/v1"}}
    lite = litellm.Router(model_list=[lite_dep], num_retries=0)
    oai = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="bench", max_retries=0)

    async def run_scillm(reqs: List[Dict[str, Any]]) -> int:
        results = await sc.parallel_acompletions(reqs, concurrency=concurrency)
        return sum(r["scillm_router"]["error_type"] == "ok" for r in results)

    async def run_litellm(reqs: List[Dict[str, Any]]) -> int:
        return await gathered(lambda r: lite.acompletion(**r), reqs, concurrency)

    async def run_openai(reqs: List[Dict[str, Any]]) -> int:
        return await gathered(lambda r: oai.chat.completions.create(**r), reqs, concurrency)

    return {"scillm": run_scillm, "litellm": run_litellm, "openai": run_openai}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--n-scillm", type=int, default=20_000)
    p.add_argument("--n-litellm", type=int, default=2_000)
    p.add_argument("--n-openai", type=int, default=5_000)
    a = p.parse_args()
    sizes = {"scillm": a.n_scillm, "litellm": a.n_litellm, "openai": a.n_openai}
    clients = make_clients(a.base, a.concurrency)
    for name, run in clients.items():  # warm-up: imports, pools, first-call setup
        await run(requests(200))
    rows = []
    names = list(clients)
    for rnd in range(a.rounds):
        # Each round starts with another client: memory one run frees is reused by the next,
        # so a fixed order would favour the clients that come later.
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for name in order:
            run = clients[name]
            reqs = requests(sizes[name])
            reset_peak()
            before = status_kib("VmRSS:")
            t = time.perf_counter()
            ok = await run(reqs)
            wall = time.perf_counter() - t
            rows.append(
                {
                    "round": rnd,
                    "client": name,
                    "n": len(reqs),
                    "ok": ok,
                    "wall_s": wall,
                    "rps": len(reqs) / wall,
                    "rss_before_mib": before / 1024,
                    "peak_rss_mib": status_kib("VmHWM:") / 1024,
                }
            )
            rows[-1]["kib_per_request"] = (rows[-1]["peak_rss_mib"] - rows[-1]["rss_before_mib"]) * 1024 / len(reqs)
            print(json.dumps(rows[-1]), file=sys.stderr)
    versions = {}
    for mod in ("scillm", "litellm", "openai"):
        versions[mod] = getattr(sys.modules[mod], "__version__", None) or _dist_version(mod)
    print(json.dumps({"concurrency": a.concurrency, "python": sys.version.split()[0], "versions": versions, "rows": rows}))


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    try:
        return version(name)
    except Exception:  # noqa: BLE001
        return "unknown"


if __name__ == "__main__":
    asyncio.run(main())
