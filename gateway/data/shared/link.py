"""One process's link to Redis: the client, the stream every replica reads, and whether Redis answers.

    link = RedisLink.from_url("redis://redis:6379/0")
    link.on_entry("invalidate", drop)              # each entry of that kind, from every replica, once, in order
    link.on_state(lambda up: ...)                  # the stream is read again (True) or no longer (False)
    await link.start()
    link.append("invalidate", {"kind": "user"})    # after whatever this process appended before
    await link.submit(lambda client: client.get("k"))  # a command, in the same order
    await link.flush()                             # everything submitted so far is in Redis (or failed)

One Redis stream carries what replicas tell each other. Every replica reads all of it from where it
was, so an entry reaches each replica once and in the order it was appended, a cache drop before the
event that caused it; a replica that loses its connection reads on from the same place when it is
back (pub/sub would lose what was sent meanwhile). When Redis itself restarted, its new stream is
read from its start. The stream keeps about STREAM_LENGTH entries.

`available` is whether the stream is being read: while it is not, callers fall back (events stay on
this replica, caches are suspended, keyed writes are refused), and the link reconnects by itself.
An append that could not be made is made good, once Redis takes commands again, by a `reset` entry:
every replica then drops what it might hold stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("gateway.data.shared")

# One hash tag for every key: a Redis Cluster keeps them in one slot, as the scripts need.
PREFIX = "{learngraph}"
STREAM = f"{PREFIX}:bus"
STREAM_LENGTH = 10_000
READ_BLOCK_MS = 5_000
CONNECT_TIMEOUT_SECONDS = 2.0
COMMAND_TIMEOUT_SECONDS = 5.0
RECONNECT_SECONDS = (0.1, 2.0)  # first wait, longest wait
# `start` waits this long for Redis, so a replica that can reach it begins in step with the others.
START_WAIT_SECONDS = 3.0
CLOSE_ATTEMPTS = 20
RESET = "reset"

# What a failed command raises: redis-py's errors, and the OS's for a socket that went away.
FAILURES: tuple[type[Exception], ...] = (RedisError, OSError)

T = TypeVar("T")
# A stream entry's fields. redis-py types them loosely (bytes or str); with decode_responses, str.
Fields = dict[Any, Any]
Handler = Callable[[dict[str, Any]], None]


@dataclass
class _Listener:
    handler: Handler
    own: bool


class RedisLink:
    def __init__(self, client: Redis, reader: Redis, *, origin: str | None = None) -> None:
        self.client = client
        self._reader = reader  # its own connection: it spends its time blocked in XREAD
        self.origin = origin or secrets.token_hex(8)
        self.available = False
        self.problem: str | None = "not connected yet"
        self._listeners: dict[str, list[_Listener]] = {}
        self._state_listeners: list[Callable[[bool], None]] = []
        self._outbox: asyncio.Queue[tuple[Callable[[Redis], Awaitable[Any]], asyncio.Future[Any]]] = (
            asyncio.Queue()
        )
        self._unsent = False
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = asyncio.Event()
        self._closing = False

    @classmethod
    def from_url(cls, url: str) -> RedisLink:
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            # Once, at once: a pooled connection Redis closed (a restart) is replaced; anything more
            # is Redis being away, which callers handle, rather than a request waiting on back-off.
            "retry": Retry(NoBackoff(), 1),
            "client_name": "learngraph",
        }
        return cls(
            Redis.from_url(url, socket_timeout=COMMAND_TIMEOUT_SECONDS, **options),
            Redis.from_url(url, socket_timeout=READ_BLOCK_MS / 1000 + COMMAND_TIMEOUT_SECONDS, **options),
        )

    def on_entry(self, kind: str, handler: Handler, *, own: bool = True) -> None:
        """`handler(data)` for each entry of `kind`; `own=False` skips the ones this process appended."""
        self._listeners.setdefault(kind, []).append(_Listener(handler, own))

    def on_state(self, listener: Callable[[bool], None]) -> None:
        self._state_listeners.append(listener)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._write())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), START_WAIT_SECONDS)
        if not self.available:
            log.warning("Redis cannot be reached (%s): running alone until it can", self.problem)

    async def aclose(self) -> None:
        self._closing = True
        pending = set(self._tasks)
        # redis-py can absorb a cancellation that lands in a blocking read and read on: ask again.
        for _ in range(CLOSE_ATTEMPTS):
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=0.1)
            if not pending:
                break
        else:
            log.warning("the Redis reader did not stop; closing its connection under it")
        self._tasks = []
        await self.client.aclose()
        await self._reader.aclose()

    def submit(self, command: Callable[[Redis], Awaitable[T]]) -> asyncio.Future[T]:
        """Runs `command(client)` after everything submitted before it; its answer or its failure."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((command, future))
        return future

    def append(self, kind: str, data: dict[str, Any]) -> None:
        """Tells every replica (this one too, unless its listener said `own=False`), in order; never waits."""
        fields = self._fields(kind, data)

        async def add(client: Redis) -> None:
            await client.xadd(STREAM, fields, maxlen=STREAM_LENGTH, approximate=True)

        self.submit(add).add_done_callback(self._note_unsent)

    def entry(self, kind: str, data: dict[str, Any]) -> Fields:
        """The stream fields of an entry, for a script that appends it itself."""
        return self._fields(kind, data)

    async def flush(self) -> None:
        """Waits until what was submitted before has been sent (or has failed, or a command's time is up).
        While Redis is known to be away, at once: whatever waits to be sent will fail, and is made good later."""
        if not self.available:
            return
        with contextlib.suppress(TimeoutError, *FAILURES):
            await asyncio.wait_for(self.submit(_nothing), COMMAND_TIMEOUT_SECONDS)

    def status(self) -> dict[str, str]:
        if self.available:
            return {"status": "ok"}
        return {"status": "unavailable", "message": self.problem or "not connected"}

    def _fields(self, kind: str, data: dict[str, Any]) -> Fields:
        return {"kind": kind, "origin": self.origin, "data": orjson.dumps(data).decode()}

    def _note_unsent(self, future: asyncio.Future[None]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._unsent = True

    async def _write(self) -> None:
        while True:
            command, future = await self._outbox.get()
            if future.done():
                continue
            try:
                if self._unsent:
                    await self.client.xadd(
                        STREAM, self._fields(RESET, {}), maxlen=STREAM_LENGTH, approximate=True
                    )
                    self._unsent = False
                result = await command(self.client)
            except asyncio.CancelledError:
                future.cancel()
                raise
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

    async def _read(self) -> None:
        position: str | None = None
        server: str | None = None
        wait = RECONNECT_SECONDS[0]
        while not self._closing:
            try:
                info = await self._reader.info("server")
                if server is not None and info.get("run_id") != server:
                    position = "0-0"  # Redis restarted: its stream is a new one, read it whole
                server = info.get("run_id")
                if position is None:
                    newest = cast("list[tuple[str, Fields]]", await self._reader.xrevrange(STREAM, count=1))
                    position = newest[0][0] if newest else "0-0"
                self._set_available(True, None)
                wait = RECONNECT_SECONDS[0]
                while not self._closing:
                    answer = cast(
                        "list[tuple[str, list[tuple[str, Fields]]]] | None",
                        await self._reader.xread({STREAM: position}, count=500, block=READ_BLOCK_MS),
                    )
                    for _stream, entries in answer or []:
                        for entry_id, fields in entries:
                            position = entry_id
                            self._dispatch(fields)
            except asyncio.CancelledError:
                raise
            except FAILURES as exc:
                self._set_available(False, f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(wait)
                wait = min(wait * 2, RECONNECT_SECONDS[1])

    def _dispatch(self, fields: Fields) -> None:
        listeners = self._listeners.get(fields.get("kind", ""), [])
        own = fields.get("origin") == self.origin
        try:
            data = orjson.loads(fields.get("data", "{}"))
        except orjson.JSONDecodeError:
            log.warning("skipping an unreadable %s entry", fields.get("kind"))
            return
        for listener in listeners:
            if own and not listener.own:
                continue
            try:
                listener.handler(data)
            except Exception:  # one broken listener must not stop the stream
                log.exception("a listener failed on a %s entry", fields.get("kind"))

    def _set_available(self, available: bool, problem: str | None) -> None:
        changed = available != self.available
        self.available, self.problem = available, problem
        if available:
            self._connected.set()
        else:
            self._connected.clear()
        if not changed:
            return
        if available:
            log.info("Redis reached: state is shared with the other replicas")
            if self._unsent:
                self.submit(_nothing).add_done_callback(self._note_unsent)  # sends the reset first
        else:
            log.warning("Redis lost (%s): reconnecting; meanwhile this replica runs alone", problem)
        for listener in self._state_listeners:
            try:
                listener(available)
            except Exception:
                log.exception("a Redis state listener failed")


async def _nothing(client: Redis) -> None:
    return None
