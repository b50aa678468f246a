"""UpstreamHTTP against tiny inline upstreams: auth, redirects, retries, de-duplication, redaction."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.errors import (
    UpstreamError,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.sources import Source
from gateway.upstreams.auth import BodyAuth, HeaderAuth, QueryAuth
from gateway.upstreams.http import UpstreamHTTP
from gateway.upstreams.paging import PageRequest, StartIndexPaging
from gateway.upstreams.retries import retry_delay
from gateway.upstreams.transport import SpreadTransport
from sandbox.server import serve_on_loopback

SECRET = "s3cr3t-value"


def no_vendor_errors(source: Source, response: httpx.Response, body: Any) -> UpstreamError | None:
    if isinstance(body, dict) and body.get("echo_secret"):
        return UpstreamUnauthorized(source.slug, f"The token `{SECRET}` was not found.")
    return None


class Upstream:
    """A scriptable upstream that records what reached it."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.bodies: list[bytes] = []
        self.failures_left = 0
        self.delay = 0.0
        # `/listing`: a DAMSTRA-style listing of `size` items that says `total`, `cap` a page at most;
        # pages starting at a position in `short` leave their last item out.
        self.size = self.total = 10
        self.cap = 3
        self.short: set[int] = set()
        self.grow = 0  # items added once the first page is answered
        self.meta = True
        self.in_flight = self.most_in_flight = 0
        routes = [
            Route("/api/items", self.items, methods=["GET", "POST"]),
            Route("/api/moved", lambda r: RedirectResponse("/api/items?x=1", status_code=301)),
            Route(
                "/api/away", lambda r: RedirectResponse("http://elsewhere.test/api/items", status_code=302)
            ),
            Route("/api/text", lambda r: PlainTextResponse("<html>oops</html>")),
            Route("/api/missing", lambda r: JSONResponse({"error": "nope"}, status_code=404)),
            Route("/api/echo", lambda r: JSONResponse({"echo_secret": True}, status_code=401)),
            Route("/api/paged", self.paged),
            Route("/api/listing", self.listing),
        ]
        self.app = Starlette(routes=routes)

    async def items(self, request: Request) -> Response:
        self.seen.append(request)
        self.bodies.append(await request.body())
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures_left > 0:
            self.failures_left -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse(
            {"ok": True, "headers": dict(request.headers), "query": dict(request.query_params)}
        )

    async def listing(self, request: Request) -> Response:
        self.seen.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)  # long enough for the pages asked at once to overlap
        self.in_flight -= 1
        if self.failures_left > 0 and request.query_params["startIndex"] != "0":
            self.failures_left -= 1
            return JSONResponse({"error": "nope"}, status_code=404)
        start = int(request.query_params["startIndex"])
        end = min(start + min(int(request.query_params["maxResults"]), self.cap), self.size)
        if start in self.short:
            end -= 1
        total = self.total
        if start == 0:
            self.size, self.total, self.grow = self.size + self.grow, self.total + self.grow, 0
        body: dict[str, Any] = {"results": [{"n": n} for n in range(start, end)]}
        if self.meta:
            body["meta"] = {"totalResultCount": total}
        return JSONResponse(body)

    async def paged(self, request: Request) -> Response:
        self.seen.append(request)
        start = int(request.query_params["startIndex"])
        size = min(int(request.query_params["maxResults"]), 3)  # the upstream caps pages at 3
        results = [{"n": n} for n in range(start, min(start + size, 10))]
        return JSONResponse({"results": results, "meta": {"totalResultCount": 10, "startIndex": start}})


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


def client(upstream: Upstream, auth: Any = None, **kwargs: Any) -> UpstreamHTTP:
    return UpstreamHTTP(
        Source.DAMSTRA,
        "http://up.test/api",
        auth or HeaderAuth("AccessKey", SecretStr(SECRET)),
        decode_error=no_vendor_errors,
        transport=httpx.ASGITransport(app=upstream.app),
        retry_wait_seconds=0.0,
        **kwargs,
    )


async def test_each_auth_style_carries_the_credential(upstream: Upstream) -> None:
    body = await client(upstream).get_json("/items")
    assert body["headers"]["accesskey"] == SECRET
    bearer = client(upstream, HeaderAuth("Authorization", SecretStr(SECRET), scheme="Bearer"))
    assert (await bearer.get_json("items"))["headers"]["authorization"] == f"Bearer {SECRET}"
    query = client(upstream, QueryAuth("token", SecretStr(SECRET)))
    assert (await query.get_json("/items", {"a": 1}))["query"] == {"a": "1", "token": SECRET}
    in_body = client(upstream, BodyAuth("token", SecretStr(SECRET)))
    await in_body.read_json("POST", "/items", json={"user_id": "u"})
    assert b'"token":"s3cr3t-value"' in upstream.bodies[-1]


async def test_same_origin_redirects_are_followed_with_auth_reapplied(upstream: Upstream) -> None:
    http = client(upstream, QueryAuth("token", SecretStr(SECRET)))
    body = await http.get_json("/moved")
    assert body["query"] == {"x": "1", "token": SECRET}


async def test_redirects_to_another_origin_are_refused(upstream: Upstream) -> None:
    with pytest.raises(UpstreamUnavailable, match="another origin"):
        await client(upstream).get_json("/away")
    assert upstream.seen == []


async def test_reads_are_retried_writes_are_not(upstream: Upstream) -> None:
    http = client(upstream)
    upstream.failures_left = 2
    assert (await http.get_json("/items"))["ok"] is True
    assert len(upstream.seen) == 3

    upstream.seen.clear()
    upstream.failures_left = 1
    with pytest.raises(UpstreamUnavailable):
        await http.write("POST", "/items", json={"a": 1})
    assert len(upstream.seen) == 1


async def test_retries_give_up_after_the_configured_attempts(upstream: Upstream) -> None:
    upstream.failures_left = 5
    with pytest.raises(UpstreamUnavailable):
        await client(upstream, retry_attempts=2).get_json("/items")
    assert len(upstream.seen) == 2


def test_the_wait_between_attempts_doubles_unless_the_upstream_names_one() -> None:
    assert [retry_delay(None, attempt, 0.1, 1.0) for attempt in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    busy = UpstreamUnavailable("damstra", "busy")
    busy.retry_after = 3  # type: ignore[attr-defined]
    assert retry_delay(busy, 1, 0.1, 5.0) == 3.0
    assert retry_delay(busy, 1, 0.1, 1.0) == 1.0  # capped


async def test_identical_reads_in_flight_are_sent_once(upstream: Upstream) -> None:
    upstream.delay = 0.05
    http = client(upstream)
    results = await asyncio.gather(*(http.get_json("/items", {"q": "x"}) for _ in range(5)))
    assert len(upstream.seen) == 1
    assert all(r == results[0] for r in results)
    await http.get_json("/items", {"q": "y"})
    assert len(upstream.seen) == 2


async def test_failures_map_onto_the_error_tree(upstream: Upstream) -> None:
    http = client(upstream)
    with pytest.raises(UpstreamNotFound):
        await http.get_json("/missing")
    with pytest.raises(UpstreamMalformedResponse):
        await http.get_json("/text")
    with pytest.raises(UpstreamNotFound) as raised:
        await http.get_json("/nowhere")
    assert raised.value.extensions() == {"code": "NOT_FOUND", "source": "DAMSTRA"}


async def test_credentials_echoed_by_the_upstream_are_redacted(upstream: Upstream) -> None:
    with pytest.raises(UpstreamUnauthorized) as raised:
        await client(upstream).get_json("/echo")
    assert SECRET not in str(raised.value)
    assert SECRET not in raised.value.message
    assert "[redacted]" in raised.value.message


async def test_paginate_follows_short_pages_to_the_total(upstream: Upstream) -> None:
    http = client(upstream)
    items = await http.collect(StartIndexPaging(page_size=5), PageRequest("/paged"))
    assert [i["n"] for i in items] == list(range(10))
    window = await http.fetch_window(
        StartIndexPaging(page_size=4, start_index=2), PageRequest("/paged"), limit=4
    )
    assert [i["n"] for i in window.items] == [2, 3, 4, 5]
    assert window.total == 10


async def test_a_slow_upstream_times_out() -> None:
    upstream = Upstream()
    upstream.delay = 1.0
    async with serve_on_loopback(upstream.app) as address:
        http = UpstreamHTTP(
            Source.ISCOUT,
            f"{address}/api",
            HeaderAuth("AccessKey", SecretStr(SECRET)),
            decode_error=no_vendor_errors,
            timeout_seconds=0.2,
            retry_attempts=1,
        )
        with pytest.raises(UpstreamTimeout) as raised:
            await http.get_json("/items")
        assert raised.value.extensions()["code"] == "UPSTREAM_TIMEOUT"
        await http.aclose()


async def test_an_unreachable_upstream_is_unavailable() -> None:
    from sandbox.server import free_port

    http = UpstreamHTTP(
        Source.DAMSTRA,
        f"http://127.0.0.1:{free_port()}/api",
        HeaderAuth("AccessKey", SecretStr(SECRET)),
        decode_error=no_vendor_errors,
        retry_attempts=1,
    )
    with pytest.raises(UpstreamUnavailable, match="could not be reached"):
        await http.get_json("/items")
    await http.aclose()


async def test_a_write_that_is_refused_is_reported_not_retried(upstream: Upstream) -> None:
    async def refuse(request: Request) -> Response:
        upstream.seen.append(request)
        return JSONResponse({"error": "Lesson Schedule already exists"}, status_code=409)

    upstream.app.router.routes.append(Route("/api/refuse", refuse, methods=["POST"]))
    with pytest.raises(UpstreamRejected):
        await client(upstream).write("POST", "/refuse", json={})
    assert len(upstream.seen) == 1


# -- a whole listing at once ----------------------------------------------------------------------


def starts(upstream: Upstream) -> list[int]:
    return [int(r.query_params["startIndex"]) for r in upstream.seen]


async def test_collect_reads_the_pages_after_the_first_at_once(upstream: Upstream) -> None:
    upstream.size = upstream.total = 25
    items = await client(upstream).collect(StartIndexPaging(page_size=5), PageRequest("/listing"))
    assert [i["n"] for i in items] == list(range(25))
    # The upstream cut the first page to 3: the rest are asked 3 at a time, all at once.
    assert starts(upstream) == [0, *range(3, 25, 3)]
    assert {r.query_params["maxResults"] for r in upstream.seen[1:]} == {"3"}
    assert upstream.most_in_flight == 8


async def test_collect_bounds_the_pages_in_flight(upstream: Upstream) -> None:
    upstream.size = upstream.total = 30
    items = await client(upstream, pages_at_once=2).collect(
        StartIndexPaging(page_size=3), PageRequest("/listing")
    )
    assert [i["n"] for i in items] == list(range(30))
    assert len(upstream.seen) == 10 and upstream.most_in_flight == 2


async def test_a_short_page_never_ends_the_listing_early(upstream: Upstream) -> None:
    upstream.size = upstream.total = 15
    upstream.short = {6, 12}  # two pages each leave one item out; the last of them ends the listing
    items = await client(upstream).collect(StartIndexPaging(page_size=3), PageRequest("/listing"))
    assert [i["n"] for i in items] == list(range(15))
    # The gap after the page at 6 is read before the page at 9 is used; after the last page the count says
    # one item remains, so it is followed too.
    assert sorted(starts(upstream)) == [0, 3, 6, 8, 9, 12, 14]


async def test_a_listing_that_grew_meanwhile_is_read_to_its_end(upstream: Upstream) -> None:
    upstream.size = upstream.total = 9
    upstream.grow = 4  # four items arrive right after the first page was read
    items = await client(upstream).collect(StartIndexPaging(page_size=3), PageRequest("/listing"))
    assert [i["n"] for i in items] == list(range(13))
    # Pages at 3 and 6 at once, as the first count said; then the last one's count tells of more.
    assert sorted(starts(upstream)) == [0, 3, 6, 9, 12]


async def test_collect_stops_at_the_limit_and_without_a_count_reads_page_after_page(
    upstream: Upstream,
) -> None:
    upstream.size = upstream.total = 25
    items = await client(upstream).collect(StartIndexPaging(page_size=3), PageRequest("/listing"), limit=7)
    assert [i["n"] for i in items] == list(range(7))
    assert starts(upstream) == [0, 3, 6]
    # No `meta` (DAMSTRA's user schedules): nothing tells where the listing ends but a short page.
    upstream.seen.clear()
    upstream.meta, upstream.most_in_flight = False, 0
    items = await client(upstream).collect(StartIndexPaging(page_size=3), PageRequest("/listing"))
    assert [i["n"] for i in items] == list(range(25))
    assert starts(upstream) == list(range(0, 27, 3)) and upstream.most_in_flight == 1


async def test_a_failing_page_fails_the_listing(upstream: Upstream) -> None:
    upstream.size = upstream.total = 30
    upstream.failures_left = 1
    with pytest.raises(UpstreamNotFound):
        await client(upstream, pages_at_once=1).collect(
            StartIndexPaging(page_size=3), PageRequest("/listing")
        )
    await asyncio.sleep(0.05)
    # The first page, the failing one and at most the one that took its turn: the 7 others were never asked.
    assert len(upstream.seen) <= 3


# -- SpreadTransport ------------------------------------------------------------------------------


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
