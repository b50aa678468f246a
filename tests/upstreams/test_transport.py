"""SpreadTransport: a pool of its own for each request in flight, slots freed on failure, the pool timeout."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from gateway.sources import Source
from gateway.upstreams.auth import HeaderAuth
from gateway.upstreams.http import UpstreamHTTP
from gateway.upstreams.transport import SpreadTransport
from sandbox.server import serve_on_loopback
from tests.upstreams.inline_upstream import SECRET, Upstream, no_vendor_errors


class CountingPool(httpx.AsyncBaseTransport):
    """A stand-in connection pool: answers after `delay`, counting the requests it serves at once."""

    def __init__(self, delay: float = 0.01, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail
        self.served = self.in_flight = self.most_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail:
                raise httpx.ConnectError("refused", request=request)
            self.served += 1
            return httpx.Response(200, json={"ok": True})
        finally:
            self.in_flight -= 1


async def test_spread_transport_serves_each_request_on_a_pool_of_its_own() -> None:
    pools: list[CountingPool] = []

    def make() -> CountingPool:
        pools.append(CountingPool())
        return pools[-1]

    spread = SpreadTransport(slots=4, make_pool=make)
    async with httpx.AsyncClient(transport=spread, base_url="http://up.test") as http:
        answers = await asyncio.gather(*(http.get("/x") for _ in range(10)))
        assert all(a.status_code == 200 for a in answers)
        assert len(pools) == 4  # four slots, four pools, built as first needed
        assert all(p.most_in_flight == 1 for p in pools)  # never two requests on one pool
        assert sum(p.served for p in pools) == 10 and spread.in_flight == 0
        await http.get("/x")  # one at a time: the pool used last, whose connection is warm, again
        await http.get("/x")
        assert sorted(p.served for p in pools)[-1] >= 4


async def test_spread_transport_frees_a_slot_on_failure_and_times_out_waiting() -> None:
    spread = SpreadTransport(slots=1, make_pool=lambda: CountingPool(fail=True))
    async with httpx.AsyncClient(transport=spread, base_url="http://up.test") as http:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await http.get("/x")
        assert spread.in_flight == 0
    slow = SpreadTransport(slots=1, make_pool=lambda: CountingPool(delay=0.2))
    async with httpx.AsyncClient(
        transport=slow, base_url="http://up.test", timeout=httpx.Timeout(5, pool=0.05)
    ) as http:
        first = asyncio.ensure_future(http.get("/x"))
        await asyncio.sleep(0.01)
        with pytest.raises(httpx.PoolTimeout):
            await http.get("/x")  # the one slot stays busy longer than the pool timeout
        assert (await first).status_code == 200


async def test_a_wave_of_reads_over_loopback_reuses_one_connection_per_slot() -> None:
    upstream = Upstream()
    upstream.delay = 0.02
    async with serve_on_loopback(upstream.app) as address:
        http = UpstreamHTTP(
            Source.DAMSTRA,
            f"{address}/api",
            HeaderAuth("AccessKey", SecretStr(SECRET)),
            decode_error=no_vendor_errors,
            max_connections=20,
        )
        for wave in range(2):
            results = await asyncio.gather(*(http.get_json("/items", {"n": n}) for n in range(50)))
            assert [r["query"]["n"] for r in results] == [str(n) for n in range(50)], wave
        await http.aclose()
    # At most 20 connections for 100 reads: each slot's connection kept alive from one read to the next.
    connections = {request.client for request in upstream.seen}
    assert len(upstream.seen) == 100 and len(connections) <= 20
