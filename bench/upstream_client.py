"""The HTTP client's CPU per upstream request (issue 15): 3,000 GETs, 100 in flight, to a loopback
server answering each after 20 ms.

    python -m bench.upstream_client                        # every client, 3 rounds, uvloop
    python -m bench.upstream_client --clients upstream-http,wire,aiohttp --rounds 5

The server runs in a process of its own on another CPU (when there are two), so what is measured
is this process's CPU time alone, divided by the requests: what one upstream request costs the
gateway at the HTTP layer. The clients take turns, round after round, so each sees the same
background load; the median round is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import httpx
import orjson
from pydantic import SecretStr

from gateway.sources import Source
from gateway.upstreams.auth import HeaderAuth
from gateway.upstreams.http import UpstreamHTTP
from gateway.upstreams.transport import PoolTransport, Target

HOST = "127.0.0.1"
# About what one DAMSTRA schedule page of a few items weighs.
BODY = orjson.dumps(
    {
        "items": [
            {"id": 1000 + n, "lessonId": 77 + n, "status": "overdue", "dueDate": "2026-11-01T00:00:00Z"}
            for n in range(6)
        ],
        "total": 6,
    }
)

# Request n reads person n % PEOPLE's schedules: paths come back as a dashboard's do (no two of the
# 100 in flight are the same read, which UpstreamHTTP would send once).
PEOPLE = 500

Fetch = Callable[[int], Awaitable[None]]
"""Sends request number n and reads its answer."""


# -- the server ---------------------------------------------------------------------------------


class _Answering(asyncio.Protocol):
    """HTTP/1.1 keep-alive: each request answered `delay` seconds after it arrived, in order."""

    def __init__(self, delay: float, response: bytes) -> None:
        self.delay, self.response = delay, response
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        loop = asyncio.get_running_loop()
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.buffer = self.buffer[length:]  # a small body arrives with its head
            loop.call_later(self.delay, self._answer)

    def _answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.response)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve(port: int, delay: float) -> None:
    head = (
        f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(BODY)}\r\n\r\n"
    ).encode()
    server = await asyncio.get_running_loop().create_server(
        lambda: _Answering(delay, head + BODY), HOST, port, backlog=1024
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def answering_server(delay: float, cpus: set[int] | None) -> Any:
    with contextlib.closing(__import__("socket").socket()) as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "bench.upstream_client", "--serve", str(port), "--delay-ms"]
    process = subprocess.Popen([*command, str(delay * 1000)], stdout=subprocess.PIPE)
    try:
        if cpus:
            os.sched_setaffinity(process.pid, cpus)
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the answering server did not start")
        yield f"http://{HOST}:{port}"
    finally:
        process.terminate()
        process.wait()


# -- the clients ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def httpx_pool(base: str) -> AsyncIterator[Fetch]:
    """httpx's own pool (httpcore), 100 connections."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:

        async def fetch(n: int) -> None:
            response = await client.get(f"/user/{n % PEOPLE}/lesson_schedule", params={"status": "overdue"})
            orjson.loads(response.content)

        yield fetch


@contextlib.asynccontextmanager
async def httpx_wire(base: str) -> AsyncIterator[Fetch]:
    """httpx over LearnGraph's PoolTransport: httpx's request and response building, the gateway's wire."""
    async with httpx.AsyncClient(base_url=base, transport=PoolTransport(100)) as client:

        async def fetch(n: int) -> None:
            response = await client.get(f"/user/{n % PEOPLE}/lesson_schedule", params={"status": "overdue"})
            orjson.loads(response.content)

        yield fetch


@contextlib.asynccontextmanager
async def wire(base: str) -> AsyncIterator[Fetch]:
    """The gateway's wire alone (PoolTransport.fetch: keep-alive connections, httptools' parser)."""
    transport = PoolTransport(100)
    try:
        headers = {"AccessKey": "bench-key"}
        timeouts = (5.0, 5.0, 5.0)
        targets = [
            Target.of(httpx.URL(f"{base}/user/{n}/lesson_schedule?status=overdue")) for n in range(PEOPLE)
        ]

        async def fetch(n: int) -> None:
            _, _, body = await transport.fetch("GET", targets[n % PEOPLE], headers, None, timeouts)
            orjson.loads(body)

        yield fetch
    finally:
        await transport.aclose()


@contextlib.asynccontextmanager
async def aiohttp_direct(base: str) -> AsyncIterator[Fetch]:
    """aiohttp alone: one ClientSession, a connector of 100."""
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=100)) as session:

        async def fetch(n: int) -> None:
            async with session.get(
                f"/user/{n % PEOPLE}/lesson_schedule", params={"status": "overdue"}
            ) as response:
                orjson.loads(await response.read())

        yield fetch


def _upstream_http(
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
) -> Callable[[str], Any]:
    @contextlib.asynccontextmanager
    async def client(base: str) -> AsyncIterator[Fetch]:
        http = UpstreamHTTP(
            Source.DAMSTRA,
            base,
            HeaderAuth("AccessKey", SecretStr("bench-key")),
            decode_error=lambda source, response, body: None,
            transport=transport() if transport else None,
        )
        try:

            async def fetch(n: int) -> None:
                await http.get_json(f"user/{n % PEOPLE}/lesson_schedule", {"status": "overdue"})

            yield fetch
        finally:
            await http.aclose()

    return client


CLIENTS: dict[str, Callable[[str], Any]] = {
    "httpx-pool": httpx_pool,
    "httpx-wire": httpx_wire,
    "wire": wire,
    "aiohttp": aiohttp_direct,
    # What a connector's read costs: the product's own path (auth, de-dup, retries, error mapping,
    # JSON) over its default (LeanClient on the wire), and through httpx over its own pool.
    "upstream-http": _upstream_http(),
    "upstream-http-httpx-pool": _upstream_http(
        lambda: httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
        )
    ),
}


async def measure(name: str, base: str, requests: int, in_flight: int) -> float:
    """CPU seconds of this process per request, warm connections."""
    async with CLIENTS[name](base) as fetch:
        gate = asyncio.Semaphore(in_flight)

        async def one(n: int) -> None:
            async with gate:
                await fetch(n)

        await asyncio.gather(*(one(n) for n in range(in_flight)))  # open the connections first
        started = time.process_time()
        await asyncio.gather(*(one(n) for n in range(requests)))
        return (time.process_time() - started) / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.upstream_client", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the server's answer time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated ({','.join(CLIENTS)})")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="as the gateway runs")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve, args.delay_ms / 1000))
        return 0
    names = [n.strip() for n in args.clients.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLIENTS]
    if unknown:
        parser.error(f"unknown clients: {', '.join(unknown)}")
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = {cpus[0]} if len(cpus) > 1 else None
    if server_cpus:
        os.sched_setaffinity(0, {cpus[-1]})
    runner: Callable[[Coroutine[Any, Any, float]], float]
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    else:
        runner = asyncio.run
    results: dict[str, list[float]] = {n: [] for n in names}
    with answering_server(args.delay_ms / 1000, server_cpus) as base:
        for _ in range(args.rounds):
            for name in names:
                results[name].append(runner(measure(name, base, args.requests, args.in_flight)))
    print(
        f"{args.requests} GETs, {args.in_flight} in flight, server answering after {args.delay_ms:g} ms, "
        f"{args.loop}, {args.rounds} rounds; client CPU per request in ms (median, min-max):"
    )
    for name in names:
        ms = [r * 1000 for r in results[name]]
        print(f"  {name:22} {statistics.median(ms):6.3f}  ({min(ms):.3f}-{max(ms):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
