"""Cancelling the asyncio task that awaits a batch stops the upstream requests."""

from __future__ import annotations

import asyncio
import time

import scillm
from conftest import Mock, user, wait_until


def settle(mock: Mock) -> int:
    """The request count once nothing is in flight at the mock."""
    wait_until(lambda: mock.stats()["in_flight"] == 0, "the mock to have no request in flight")
    return mock.stats()["requests"]


def test_cancelling_the_awaiting_task_stops_upstream_requests(mock: Mock) -> None:
    router = scillm.Router(model_list=[mock.deployment()])
    n = 100
    before = settle(mock)

    async def run() -> None:
        task = asyncio.ensure_future(
            router.parallel_acompletions([user(f"hold {i} [delay_ms=400]") for i in range(n)], concurrency=4)
        )
        deadline = time.monotonic() + 10
        while mock.stats()["in_flight"] < 4:
            assert time.monotonic() < deadline, "the batch never started"
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return
        raise AssertionError("the task was not cancelled")

    asyncio.run(run())
    at_cancel = settle(mock)  # the held requests' connections were dropped
    time.sleep(1.0)  # a window in which a still-running batch would send ~10 more
    after = mock.stats()["requests"]
    assert after == at_cancel, f"{after - at_cancel} requests reached the mock after the cancel"
    assert at_cancel - before <= 8, f"{at_cancel - before} of {n} requests were sent"


def test_leaving_parallel_as_completed_early_stops_upstream_requests(mock: Mock) -> None:
    router = scillm.Router(model_list=[mock.deployment()])
    before = settle(mock)

    async def run() -> None:
        requests = [user("fast")] + [user(f"hold {i} [delay_ms=400]") for i in range(50)]
        async for index, _ in router.parallel_as_completed(requests, concurrency=4):
            assert index == 0
            break

    asyncio.run(run())
    at_exit = settle(mock)
    time.sleep(1.0)
    assert mock.stats()["requests"] == at_exit
    assert at_exit - before <= 8
