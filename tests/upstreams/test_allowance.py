"""An operation's allowance as the HTTP core spends it: the budget (retries count), the deadline
(cuts what is in flight, stops retries), the caller leaving, and reads shared across operations."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.errors import (
    CallerGone,
    UpstreamBudgetExceeded,
    UpstreamDeadlineExceeded,
    UpstreamUnavailable,
)
from gateway.settings import Settings
from gateway.upstreams.allowance import Allowance
from tests.upstreams.inline_upstream import Upstream, client


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


async def test_every_request_counts_and_past_the_budget_none_is_sent(upstream: Upstream) -> None:
    http = client(upstream)
    with Allowance(max_requests=3, seconds=10).applied() as allowance:
        for n in range(3):
            await http.get_json("/items", {"n": n})
        with pytest.raises(UpstreamBudgetExceeded) as raised:
            await http.get_json("/items", {"n": 3})
    assert len(upstream.seen) == 3
    assert allowance.requests == 4  # the one refused included
    assert raised.value.extensions() == {"code": "UPSTREAM_BUDGET_EXCEEDED", "source": "DAMSTRA"}


async def test_retries_spend_from_the_budget(upstream: Upstream) -> None:
    upstream.failures_left = 5
    with Allowance(max_requests=2, seconds=10).applied(), pytest.raises(UpstreamBudgetExceeded):
        await client(upstream, retry_attempts=3).get_json("/items")
    assert len(upstream.seen) == 2


async def test_writes_spend_from_it_too(upstream: Upstream) -> None:
    http = client(upstream)
    with Allowance(max_requests=1, seconds=10).applied():
        await http.write("POST", "/items", json={"a": 1})
        with pytest.raises(UpstreamBudgetExceeded):
            await http.write("POST", "/items", json={"a": 2})
    assert len(upstream.seen) == 1


async def test_without_an_allowance_nothing_is_counted(upstream: Upstream) -> None:
    http = client(upstream)
    for n in range(5):
        await http.get_json("/items", {"n": n})
    assert len(upstream.seen) == 5


async def test_the_deadline_cuts_what_is_in_flight(upstream: Upstream) -> None:
    upstream.delay = 5.0
    started = time.monotonic()
    with Allowance(max_requests=10, seconds=0.2).applied(), pytest.raises(UpstreamDeadlineExceeded) as raised:
        await client(upstream).get_json("/items")
    assert time.monotonic() - started < 1.0
    assert raised.value.extensions()["code"] == "UPSTREAM_TIMEOUT"
    assert not raised.value.retryable
    assert len(upstream.seen) == 1  # not retried


async def test_past_the_deadline_no_request_starts(upstream: Upstream) -> None:
    http = client(upstream)
    with Allowance(max_requests=10, seconds=0.05).applied():
        await asyncio.sleep(0.1)
        with pytest.raises(UpstreamDeadlineExceeded):
            await http.get_json("/items")
        with pytest.raises(UpstreamDeadlineExceeded):
            await http.write("POST", "/items", json={})
    assert upstream.seen == []


async def test_a_retry_is_made_only_if_its_wait_ends_before_the_deadline(upstream: Upstream) -> None:
    upstream.failures_left = 5
    http = client(upstream, retry_attempts=3)
    http.retry_wait_seconds = 0.5  # the first wait; the next ones double
    with Allowance(max_requests=10, seconds=0.3).applied(), pytest.raises(UpstreamUnavailable):
        await http.get_json("/items")
    assert len(upstream.seen) == 1
    upstream.seen.clear()
    with Allowance(max_requests=10, seconds=1.2).applied(), pytest.raises(UpstreamUnavailable):
        await http.get_json("/items")
    assert len(upstream.seen) == 2  # waits 0.5 s (in time), then 1.0 s (it would not be)


async def test_a_caller_leaving_cuts_the_reads_in_flight_and_starts_none(upstream: Upstream) -> None:
    upstream.delay = 5.0
    http = client(upstream)
    with Allowance(max_requests=10, seconds=10).applied() as allowance:
        read = asyncio.ensure_future(http.get_json("/items"))
        while not upstream.seen:  # noqa: ASYNC110 (the upstream records it in another task)
            await asyncio.sleep(0.01)
        allowance.leave()
        with pytest.raises(CallerGone):
            await read
        with pytest.raises(CallerGone):
            await http.get_json("/items", {"n": 2})
    assert len(upstream.seen) == 1


async def test_once_a_write_was_sent_the_mutation_goes_on_until_it_is_done(upstream: Upstream) -> None:
    http = client(upstream)
    with Allowance(max_requests=10, seconds=10).applied() as allowance:
        allowance.begin_write()
        await http.write("POST", "/items", json={"first": 1})
        allowance.leave()
        await http.get_json("/items", {"between": 1})  # what the next write needs
        allowance.begin_write()
        await http.write("POST", "/items", json={"second": 2})
        allowance.writes_done()
        with pytest.raises(CallerGone):
            await http.get_json("/items", {"read": "back"})
    assert len(upstream.seen) == 3


async def test_no_first_write_after_the_caller_left() -> None:
    with Allowance(max_requests=10, seconds=10).applied() as allowance:
        allowance.leave()
        with pytest.raises(CallerGone):
            allowance.begin_write()


async def test_a_shared_read_is_spent_by_the_operation_that_sent_it(upstream: Upstream) -> None:
    upstream.delay = 0.1
    http = client(upstream)
    first, second = Allowance(10, 10), Allowance(10, 10)

    async def read_as(allowance: Allowance) -> object:
        with allowance.applied():
            return await http.get_json("/items", {"same": 1})

    a, b = await asyncio.gather(read_as(first), read_as(second))
    assert a == b
    assert len(upstream.seen) == 1
    assert (first.requests, second.requests) == (1, 0)


async def test_a_shared_read_stopped_by_its_senders_deadline_is_read_again(upstream: Upstream) -> None:
    upstream.delay = 0.3
    http = client(upstream)
    hurried, patient = Allowance(10, 0.1), Allowance(10, 10)

    async def read_as(allowance: Allowance) -> object:
        with allowance.applied():
            return await http.get_json("/items", {"same": 1})

    a, b = await asyncio.gather(read_as(hurried), read_as(patient), return_exceptions=True)
    assert isinstance(a, UpstreamDeadlineExceeded)
    assert isinstance(b, dict) and b["ok"]
    assert len(upstream.seen) == 2
    assert (hurried.requests, patient.requests) == (1, 1)


async def test_waiting_on_a_shared_read_keeps_to_ones_own_deadline(upstream: Upstream) -> None:
    upstream.delay = 0.5
    http = client(upstream)
    patient, hurried = Allowance(10, 10), Allowance(10, 0.1)

    async def read_as(allowance: Allowance, after: float) -> Any:
        await asyncio.sleep(after)
        with allowance.applied():
            return await http.get_json("/items", {"same": 1})

    started = time.monotonic()
    waiting = asyncio.ensure_future(read_as(hurried, 0.02))
    sending = asyncio.ensure_future(read_as(patient, 0.0))
    with pytest.raises(UpstreamDeadlineExceeded):
        await waiting
    assert time.monotonic() - started < 0.4
    assert (await sending)["ok"]  # the read it waited on was not cut
    assert len(upstream.seen) == 1


async def test_a_cross_request_cache_hit_costs_nothing(upstream: Upstream) -> None:
    from gateway.data.cache import EntityCache

    cache = EntityCache(Settings())
    http = client(upstream)

    async def read() -> object:
        return await http.get_json("/items")

    with Allowance(10, 10).applied() as first:
        await cache.read_through("training_records", "scope", "all", read)
    with Allowance(10, 10).applied() as second:
        await cache.read_through("training_records", "scope", "all", read)
    assert (first.requests, second.requests) == (1, 0)
    assert len(upstream.seen) == 1


async def test_a_cache_read_stopped_by_its_starters_budget_is_read_again(upstream: Upstream) -> None:
    from gateway.data.cache import EntityCache

    upstream.delay = 0.05
    cache = EntityCache(Settings())
    http = client(upstream)

    async def read() -> object:
        await http.get_json("/items", {"page": 1})
        return await http.get_json("/items", {"page": 2})

    async def read_as(allowance: Allowance) -> object:
        with allowance.applied():
            return await cache.read_through("training_records", "scope", "all", read)

    poor, rich = Allowance(1, 10), Allowance(10, 10)
    a, b = await asyncio.gather(read_as(poor), read_as(rich), return_exceptions=True)
    assert isinstance(a, UpstreamBudgetExceeded)
    assert isinstance(b, dict) and b["ok"]
    assert (poor.requests, rich.requests) == (2, 2)
