"""At most n requests in flight to one upstream; the rest wait their turn, first come first served.

    gate = Gate(100)
    await gate.acquire(timeout=5.0)     # TimeoutError when no place came free in time
    try: ... finally: gate.release()

`asyncio.Semaphore` would do, but on Python 3.11 every `acquire` scans all of its waiters
(`Semaphore.locked`): with 16 dashboards' 2,700 reads queued behind 100 connections that is
quadratic, and showed in the gateway's profile. Here taking and giving back a place costs the same
however long the queue.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Gate:
    def __init__(self, places: int) -> None:
        self._free = places
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    def try_acquire(self) -> bool:
        """A place taken at once, if one is free and nobody is ahead in the queue."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self, timeout: float | None) -> None:  # noqa: ASYNC109 (the pool timeout)
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a place just as this wait ended: it goes to the next in line
            else:
                waiter.cancel()
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
