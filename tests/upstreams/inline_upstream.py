"""A tiny scriptable upstream, in-process or on a loopback socket, and an `UpstreamHTTP` wired to it:
for the tests of the HTTP core, the transport and the paging drivers.

    @pytest.fixture(params=WIRES)
    async def upstream(request) -> AsyncIterator[Upstream]:
        async with served(Upstream(), request.param) as upstream:
            yield upstream                    # client(upstream) reaches it the one way or the other
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.errors import UpstreamError, UpstreamUnauthorized
from gateway.sources import Source
from gateway.upstreams.auth import HeaderAuth
from gateway.upstreams.http import UpstreamHTTP
from sandbox.server import serve_on_loopback

SECRET = "s3cr3t-value"
# In-process through httpx.ASGITransport, and over a loopback socket through the production wire.
WIRES = ["in-process", "loopback"]


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
        self.address: str | None = None  # set while served on loopback
        self.clients: list[UpstreamHTTP] = []
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


def client(upstream: Upstream, auth: Any = None, **kwargs: Any) -> UpstreamHTTP:
    http = UpstreamHTTP(
        Source.DAMSTRA,
        f"{upstream.address}/api" if upstream.address else "http://up.test/api",
        auth or HeaderAuth("AccessKey", SecretStr(SECRET)),
        decode_error=no_vendor_errors,
        transport=None if upstream.address else httpx.ASGITransport(app=upstream.app),
        retry_wait_seconds=0.0,
        **kwargs,
    )
    upstream.clients.append(http)
    return http


@contextlib.asynccontextmanager
async def served(upstream: Upstream, wire: str) -> AsyncIterator[Upstream]:
    """`upstream` in-process, or on a loopback socket for the block; the clients made for it closed after."""
    try:
        if wire == "loopback":
            async with serve_on_loopback(upstream.app) as address:
                upstream.address = address
                try:
                    yield upstream
                finally:
                    for http in upstream.clients:
                        await http.aclose()
        else:
            yield upstream
    finally:
        upstream.address = None
