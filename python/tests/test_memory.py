"""10,000 requests from Python, five times: memory returns to its level after the results
are dropped, with no growth from one repetition to the next.

Two measures: Python's allocated blocks (exact: one object kept per request would be
10,000 blocks per repetition) and the process's resident memory (Rust included; the
allocator's per-thread arenas make it move by a few MiB from run to run, while a leak of
1 KiB per request would add ~10 MiB every repetition)."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import sys
from typing import List, Tuple

import scillm
from conftest import Mock, user

N = 10_000


def measure() -> Tuple[int, float]:
    """(Python blocks allocated, resident MiB) after a full collection, free heap pages
    returned to the OS."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return sys.getallocatedblocks(), pages * 4096 / 2**20


def test_ten_thousand_requests_leave_no_memory_behind(mock: Mock) -> None:
    router = scillm.Router(model_list=[mock.deployment()])
    requests = [user(f"request {i}") for i in range(N)]

    async def once() -> None:
        results = await router.parallel_acompletions(requests, concurrency=64)
        assert len(results) == N
        assert sum(r["scillm_router"]["error_type"] == "ok" for r in results) == N
        del results

    # Warm-up: the connection pool, the runtime's threads and their allocator arenas grow to
    # their working size over the first repetitions.
    for _ in range(3):
        asyncio.run(once())
    base_blocks, base_rss = measure()
    after: List[Tuple[int, float]] = []
    for _ in range(5):
        asyncio.run(once())
        after.append(measure())
    print(f"baseline {base_blocks} blocks, {base_rss:.1f} MiB; after each repetition: {after}")
    for blocks, rss in after:
        assert blocks - base_blocks < 2_000, (base_blocks, after)
        assert rss - base_rss < 15, (base_rss, after)
