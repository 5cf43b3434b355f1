"""parallel_acompletions and parallel_as_completed against the chat mock: order, failures,
fail_fast, timeouts, completion order; acompletion / completion and their exceptions."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import scillm
from conftest import Mock, user, wait_until


def router_for(mock: Mock) -> scillm.Router:
    return scillm.Router(model_list=[mock.deployment()])


def test_order_is_kept_with_reversed_latencies(mock: Mock) -> None:
    n = 8
    requests = [user(f"item {i} [delay_ms={(n - i) * 40}]") for i in range(n)]
    results = asyncio.run(router_for(mock).parallel_acompletions(requests, concurrency=n))
    assert [r["scillm_router"]["index"] for r in results] == list(range(n))
    assert [r["choices"][0]["message"]["content"] for r in results] == [f"item {i} [delay_ms={(n - i) * 40}]" for i in range(n)]
    assert all(r["scillm_router"]["error_type"] == "ok" for r in results)


def test_completion_order_when_order_is_not_preserved(mock: Mock) -> None:
    requests = [user("slow [delay_ms=400]"), user("fast")]
    results = asyncio.run(router_for(mock).parallel_acompletions(requests, preserve_order=False))
    assert [r["scillm_router"]["index"] for r in results] == [1, 0]


def test_a_failing_item_is_an_error_dict_in_its_slot(mock: Mock) -> None:
    requests = [user("a"), user("b [status=400]"), user("c")]
    results = asyncio.run(router_for(mock).parallel_acompletions(requests))
    assert len(results) == 3
    failed = results[1]["scillm_router"]
    assert failed["error_type"] == "provider_error"
    assert failed["error_kind"] == "bad_request"
    assert failed["status"] == 400
    assert results[1]["choices"][0]["message"]["content"] == ""
    assert [results[i]["scillm_router"]["error_type"] for i in (0, 2)] == ["ok", "ok"]


def test_a_failing_item_raises_without_return_exceptions(mock: Mock) -> None:
    requests = [user("a"), user("b [status=400]"), user("c")]
    with pytest.raises(scillm.BadRequestError) as info:
        asyncio.run(router_for(mock).parallel_acompletions(requests, return_exceptions=False))
    err = info.value
    assert isinstance(err, scillm.ScillmError)
    assert (err.error_kind, err.error_type, err.status, err.index) == ("bad_request", "provider_error", 400, 1)
    assert err.result is not None and err.result["scillm_router"]["index"] == 1


def test_fail_fast_cancels_the_rest(mock: Mock) -> None:
    requests = [user("fails [status=400]")] + [user(f"slow {i} [delay_ms=5000]") for i in range(6)]
    started = time.monotonic()
    results = asyncio.run(router_for(mock).parallel_acompletions(requests, concurrency=4, fail_fast=True))
    assert time.monotonic() - started < 4.5, "the slow items were not waited for"
    assert results[0]["scillm_router"]["error_kind"] == "bad_request"
    kinds = [r["scillm_router"]["error_kind"] for r in results[1:]]
    assert kinds == ["cancelled"] * 6
    assert all("fail_fast" in r["scillm_router"]["exception"] for r in results[1:])


def test_per_item_timeout(mock: Mock) -> None:
    requests = [user("quick"), user("late [delay_ms=3000]")]
    results = asyncio.run(router_for(mock).parallel_acompletions(requests, timeout=0.5))
    assert results[0]["scillm_router"]["error_type"] == "ok"
    assert results[1]["scillm_router"]["error_type"] == "timeout"
    assert results[1]["scillm_router"]["error_kind"] == "timeout"


def test_parallel_as_completed_yields_the_fast_item_first(mock: Mock) -> None:
    async def run() -> list:
        requests = [user("slow [delay_ms=500]"), user("fast")]
        return [(i, r) async for i, r in router_for(mock).parallel_as_completed(requests)]

    got = asyncio.run(run())
    assert [i for i, _ in got] == [1, 0]
    assert got[0][1]["choices"][0]["message"]["content"] == "fast"
    assert all(i == r["scillm_router"]["index"] for i, r in got)


def test_parallel_as_completed_raises_without_return_exceptions(mock: Mock) -> None:
    async def run() -> None:
        async for _ in router_for(mock).parallel_as_completed([user("x [status=401]")], return_exceptions=False):
            pass

    with pytest.raises(scillm.AuthenticationError):
        asyncio.run(run())


def test_invalid_items_get_error_results_in_their_slots(mock: Mock) -> None:
    requests = [
        user("ok"),
        "not a request",
        {"model": "mock"},
        {"model": "mock", "messages": []},  # refused as the gateway refuses it (400), never sent
        {"model": "nowhere", "messages": [{"role": "user", "content": "x"}]},
    ]
    results = asyncio.run(router_for(mock).parallel_acompletions(requests))
    kinds = [r["scillm_router"]["error_kind"] for r in results]
    assert kinds == [None, "invalid_request", "invalid_request", "invalid_request", "not_found"]
    assert "messages" in results[3]["scillm_router"]["exception"]


def test_acompletion_and_completion(mock: Mock) -> None:
    router = router_for(mock)
    result = asyncio.run(router.acompletion(model="mock", messages=[{"role": "user", "content": "hello"}]))
    assert result["choices"][0]["message"]["content"] == "hello"
    assert result["scillm_router"]["deployment"] == "mock#0"
    assert router.completion(**user("again"))["choices"][0]["message"]["content"] == "again"
    with pytest.raises(scillm.RateLimitError) as info:
        router.completion(**user("busy [status=429]"), max_tokens=5)
    assert info.value.status == 429
    with pytest.raises(scillm.NotFoundError):
        asyncio.run(router.acompletion(model="unknown", messages=[{"role": "user", "content": "x"}]))


def test_completion_releases_the_gil(mock: Mock) -> None:
    """While a blocking completion() waits on the mock, this thread runs Python code."""
    router = router_for(mock)
    before = mock.stats()["requests"]
    done = threading.Event()

    def call() -> None:
        router.completion(**user("hold [delay_ms=1500]"))
        done.set()

    worker = threading.Thread(target=call)
    worker.start()
    # Polling needs the GIL: it succeeds only while the worker is inside completion().
    wait_until(lambda: mock.stats()["requests"] > before and mock.stats()["in_flight"] >= 1, "the held request")
    assert not done.is_set()
    worker.join(timeout=10)
    assert done.is_set()


def test_bad_arguments_are_clear_errors(mock: Mock) -> None:
    router = router_for(mock)
    with pytest.raises(ValueError, match="concurrency"):
        asyncio.run(router.parallel_acompletions([user("x")], concurrency=0))
    with pytest.raises(ValueError, match="timeout"):
        asyncio.run(router.parallel_acompletions([user("x")], timeout=-1))
    with pytest.raises(TypeError, match=r"requests\[1\]"):
        asyncio.run(router.parallel_acompletions([user("x"), {"model": "mock", "messages": [object()]}]))
