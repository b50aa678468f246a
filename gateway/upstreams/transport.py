"""The connection pool LearnGraph puts under each upstream's `httpx.AsyncClient`.

It exists to work around httpcore's pool, which costs several times the CPU of the request
itself once a wave of reads goes to one upstream (see `SpreadTransport`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx


class SpreadTransport(httpx.AsyncBaseTransport):
    """At most `slots` requests in flight to one upstream, each on a connection pool of its own.

        client = httpx.AsyncClient(transport=SpreadTransport(slots=100))

    httpcore 1.0's pool scans every queued request against every connection each time a request
    starts or ends, and offers one idle connection to every request that arrives in the same tick:
    all but one of them then fail over and scan again. A wave of 100 reads to one upstream costs
    about 4 ms of CPU a request that way; pools of one connection serving one request at a time
    have nothing to scan or collide on (about 1 ms). Requests beyond `slots` wait here, first come
    first served, for at most the pool timeout. A slot is held until the response is closed.
    """

    def __init__(self, slots: int, make_pool: Callable[[], httpx.AsyncBaseTransport] | None = None) -> None:
        if slots < 1:
            raise ValueError("SpreadTransport needs at least one slot")
        self._make_pool = make_pool or _one_connection_pools()
        self._pools: list[httpx.AsyncBaseTransport | None] = [None] * slots  # built on first use
        # A stack: the pool used last, whose connection is warm, is handed out first.
        self._free = list(range(slots - 1, -1, -1))
        self._gate = asyncio.Semaphore(slots)
        self.in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._gate.locked():
            timeout = request.extensions.get("timeout", {}).get("pool")
            try:
                async with asyncio.timeout(timeout):
                    await self._gate.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout(
                    "no connection to the upstream came free in time", request=request
                ) from None
        else:
            await self._gate.acquire()
        slot = self._free.pop()
        self.in_flight += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight -= 1
                self._free.append(slot)
                self._gate.release()

        pool = self._pools[slot]
        if pool is None:
            pool = self._pools[slot] = self._make_pool()
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasedOnClose(response.stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            if pool is not None:
                await pool.aclose()


class _ReleasedOnClose(httpx.AsyncByteStream):
    """A response body that gives its slot back once it is closed (read to its end or abandoned)."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


def _one_connection_pools() -> Callable[[], httpx.AsyncBaseTransport]:
    # One TLS context for every pool: building one reads the CA bundle (about 50 ms).
    ssl_context = httpx.create_ssl_context()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return lambda: httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
