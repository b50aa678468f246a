"""A closed-loop load generator: N workers, each on its own keep-alive connection, one request at a time.

    result = await run_phase(Target("127.0.0.1", 8000, "/graphql"), make_body, concurrency=32,
                             duration=10.0, grace=30.0)
    result.percentile(50), result.throughput

The HTTP/1.1 client is a few lines over asyncio streams rather than httpx: on a two-core machine the
client shares the CPU with the servers it measures, and httpx spends several times more per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

BodyFactory = Callable[[int], bytes]
"""The request body of iteration `n` (iterations count from 0 across all workers of a phase)."""

Check = Callable[[bytes], str | None]
"""Reads a 200 response body: None when it is a success, else a short reason."""


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request (the credential)


class Connection:
    """One HTTP/1.1 keep-alive connection answering with Content-Length or chunked bodies."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.target.host, self.target.port)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self._writer is None or self._reader is None:
            await self.open()
        assert self._writer is not None and self._reader is not None
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.target.headers)
        head = (
            f"POST {self.target.path} HTTP/1.1\r\nHost: {self.target.host}:{self.target.port}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode("ascii") + body)
        return await self._response(self._reader)

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            content = await _chunked(reader)
        else:
            raise ProtocolError("a response with neither Content-Length nor chunked encoding")
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(parts[1]), content


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


@dataclass
class PhaseResult:
    concurrency: int
    duration: float  # the measuring window, seconds
    latencies: list[float] = field(default_factory=list)  # seconds, of every request begun in the window
    completed_in_window: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    unfinished: int = 0  # begun in the window, still unanswered when the grace period ran out
    elapsed: float = 0.0  # window plus the wait for the last answers
    busy: float = 0.0  # from the start to the last answer (or the window's end, if later)
    first_body: bytes = b""

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Answers per second while the load lasted (closed loop: 1/latency at concurrency 1)."""
        return self.completed / self.busy if self.busy else 0.0

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile in seconds; None without samples. Unfinished requests count as
        slower than every finished one, so a censored phase reports no percentile it cannot vouch for."""
        total = len(self.latencies) + self.unfinished
        if not total:
            return None
        rank = max(1, -(-p * total // 100))
        ordered = sorted(self.latencies)
        return ordered[int(rank) - 1] if rank <= len(ordered) else None


async def run_phase(
    target: Target,
    make_body: BodyFactory,
    *,
    concurrency: int,
    duration: float,
    grace: float,
    check: Check | None = None,
    counter: itertools.count[int] | None = None,
    on_window_start: Callable[[], Awaitable[None]] | None = None,
    min_samples: int = 0,
) -> PhaseResult:
    """Open the connections, then keep `concurrency` requests in flight for `duration` seconds; wait up
    to `grace` seconds more for the last answers. `on_window_start` runs once every connection is open.

    With `min_samples`, requests go on being sent past `duration` until that many have begun, as long
    as one is likely to be answered within the grace period: a slow operation still gets a few samples."""
    counter = counter if counter is not None else itertools.count()
    result = PhaseResult(concurrency=concurrency, duration=duration)
    connections = [Connection(target) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in connections))
    if on_window_start is not None:
        await on_window_start()
    started = time.perf_counter()
    deadline = started + duration
    hard_stop = deadline + grace
    in_flight = 0
    begun = 0

    def fail(reason: str) -> None:
        result.errors[reason] = result.errors.get(reason, 0) + 1

    def more() -> bool:
        now = time.perf_counter()
        if now < deadline:
            return True
        if begun >= min_samples or not result.latencies:
            return False
        return now + 1.2 * max(result.latencies) < hard_stop

    async def worker(connection: Connection) -> None:
        nonlocal in_flight, begun
        while more():
            body = make_body(next(counter))
            sent = time.perf_counter()
            begun += 1
            in_flight += 1
            try:
                status, content = await connection.post(body)
            except (OSError, asyncio.IncompleteReadError, ProtocolError) as exc:
                in_flight -= 1
                fail(type(exc).__name__)
                connection.close()
                continue
            in_flight -= 1
            ended = time.perf_counter()
            result.latencies.append(ended - sent)
            result.busy = max(result.busy, ended - started, duration)
            if ended <= deadline:
                result.completed_in_window += 1
            if not result.first_body:
                result.first_body = content
            reason = f"HTTP {status}" if status != 200 else (check(content) if check else None)
            if reason is not None:
                fail(reason)

    tasks = [asyncio.ensure_future(worker(c)) for c in connections]
    _, pending = await asyncio.wait(tasks, timeout=hard_stop - time.perf_counter())
    result.unfinished = in_flight
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for connection in connections:
        connection.close()
    result.elapsed = time.perf_counter() - started
    return result
