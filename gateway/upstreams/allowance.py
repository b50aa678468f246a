"""What one caller's operation may still ask of the upstreams: a number of requests, the time left
before its deadline, and whether anyone still waits for the answer.

    allowance = Allowance(max_requests=1000, seconds=15.0)
    with allowance.applied():      # every upstream request made in here, and in the tasks started
        ...                        # from here, spends from it (a context variable carries it)
    allowance.leave()              # the caller went away

`UpstreamHTTP` spends one request for each HTTP exchange, retries and redirects included; past
`max_requests` it sends nothing more (`UpstreamBudgetExceeded`). At the deadline the exchanges in
flight are cut and none starts (`UpstreamDeadlineExceeded`, an UPSTREAM_TIMEOUT); a read is retried
only when the wait before it ends in time. When the caller leaves, the reads in flight are cut and none
starts (`CallerGone`), except while a mutation writes: once it has sent its first write, its writes
and what it reads to decide them go on until it is done (`Writes.running`), and then nothing more.

A read shared by several operations (`dedup.SharedReads`, `EntityCache.read_through`) is spent from the
allowance of the one that started it. The others wait for it within their own deadline, and read again
themselves when the starter's own limits stop it (`stopped_for_another`): one operation's budget,
deadline or departure never fails another's read.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from gateway.errors import OPERATION_STOPS, CallerGone, UpstreamBudgetExceeded, UpstreamDeadlineExceeded

T = TypeVar("T")

_DEADLINE, _GONE = "deadline", "gone"


class Allowance:
    """One operation's limits. Built inside the event loop that runs the operation.

    Nothing is armed until the operation first waits on an upstream: then the deadline's timer, and
    `watch()` (the server's watch for the caller leaving), so an answer that needs no upstream costs
    next to nothing.
    """

    __slots__ = (
        "_cut",
        "_in_flight",
        "_loop",
        "_timer",
        "_watch",
        "deadline",
        "expired",
        "gone",
        "max_requests",
        "requests",
        "seconds",
        "writing",
    )

    def __init__(self, max_requests: int, seconds: float, *, watch: Callable[[], None] | None = None) -> None:
        self.max_requests = max_requests
        self.seconds = seconds
        self.requests = 0
        self.expired = False  # the deadline has passed
        self.gone = False  # the caller has left
        self.writing = False  # a mutation has sent a write and is not done yet
        self._in_flight: set[asyncio.Task[Any]] = set()  # tasks waiting on an upstream for it
        self._cut: dict[asyncio.Task[Any], str] = {}  # tasks it cancelled, and why
        self._loop = asyncio.get_running_loop()
        self.deadline = self._loop.time() + seconds
        self._timer: asyncio.TimerHandle | None = None
        self._watch = watch

    @contextlib.contextmanager
    def applied(self) -> Iterator[Allowance]:
        """The block's upstream requests (and those of the tasks it starts) spend from this allowance."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)
            self.close()

    def close(self) -> None:
        """The operation has answered: its deadline no longer cuts anything."""
        if self._timer is not None:
            self._timer.cancel()
        # The server's watch holds this allowance (a cycle): dropped, an answered operation's
        # objects are freed as soon as it ends, not by a later garbage collection.
        self._watch = None

    # -- what the HTTP layer asks ---------------------------------------------------------------

    def spend(self, source: str) -> None:
        """Before each upstream request: raises unless this operation may still send one."""
        if self.gone and not self.writing:
            raise CallerGone(allowance=self)
        if self._timer is None and self._loop.time() >= self.deadline:
            self.expired = True  # not armed yet: nothing waited upstream so far
        if self.expired:
            raise self._late(source, "the request's deadline passed before this upstream request was sent")
        self.requests += 1
        if self.requests > self.max_requests:
            raise UpstreamBudgetExceeded(
                source,
                f"this operation has made the {self.max_requests} upstream requests it may "
                "(LEARNGRAPH_MAX_UPSTREAM_REQUESTS); this one was not sent",
                allowance=self,
            )

    def began(self, task: asyncio.Task[Any]) -> bool:
        """`task` waits on an upstream for this operation: the deadline (or the caller leaving) cuts it.
        True when the watch for the caller has just begun (see `heard_from_caller`)."""
        self._in_flight.add(task)
        if self._timer is None:
            return self._arm()
        return False

    def ended(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.discard(task)

    def stopped(self, task: asyncio.Task[Any], source: str) -> Exception | None:
        """The error a cancelled `task` ends with, when the cancellation was this allowance's cut;
        None when someone else cancelled it (then it stays cancelled)."""
        reason = self._cut.pop(task, None)
        if reason is None or task.uncancel() > 0:
            return None
        if reason == _GONE:
            return CallerGone(allowance=self)
        return self._late(source, "the upstream did not answer before the request's deadline")

    def may_wait(self, seconds: float) -> bool:
        """Whether a request sent after `seconds` would still be sent (a retry's wait)."""
        if self.expired or (self.gone and not self.writing):
            return False
        return self._loop.time() + seconds < self.deadline

    def refuse_wait(self, source: str, seconds: float) -> Exception:
        """The error for a request that would wait `seconds` before it is sent (its upstream's pace)
        when `may_wait(seconds)` says no: the caller left, or the wait would pass the deadline."""
        if self.gone and not self.writing:
            return CallerGone(allowance=self)
        return self._late(
            source,
            f"waiting {seconds:.3g} s for {source.upper()}'s pace (LEARNGRAPH_{source.upper()}_MAX_RPS, "
            "or the Retry-After it sent) would pass the request's deadline; this upstream request was not sent",
        )

    async def wait(self, source: str, shared: asyncio.Future[T]) -> T:
        """The answer of `shared` (a read in flight that another operation may have sent), within this
        operation's deadline and presence; cutting the wait leaves the read to go on."""
        if self.gone and not self.writing:
            raise CallerGone(allowance=self)
        if self.expired:
            raise self._late(source, "the request's deadline passed before this upstream request was sent")
        task = asyncio.current_task()
        assert task is not None
        self.began(task)
        try:
            return await asyncio.shield(shared)
        except asyncio.CancelledError:
            error = self.stopped(task, source)
            if error is None:
                raise
            raise error from None
        finally:
            self._in_flight.discard(task)

    # -- what the server and the writes door say ------------------------------------------------

    def leave(self) -> None:
        """The caller went away: the reads in flight are cut and no request starts, unless a mutation
        is writing (then once it is done)."""
        self.gone = True
        if not self.writing:
            self._cut_all(_GONE)

    def begin_write(self) -> None:
        """Before a write is sent: CallerGone if the caller left before the first one."""
        if self.gone and not self.writing:
            raise CallerGone(allowance=self)
        self.writing = True

    def writes_done(self) -> None:
        """The mutation is done with its writes: if its caller left meanwhile, nothing more is read."""
        if self.writing:
            self.writing = False
            if self.gone:
                self._cut_all(_GONE)

    def renew(self) -> None:
        """A new budget and deadline from now (a subscription's next event is answered afresh)."""
        self.requests = 0
        self.expired = False
        watch = self._watch  # not answered yet: the watch stays
        self.close()
        self._watch = watch
        self._timer = None
        self.deadline = self._loop.time() + self.seconds

    # -- inside ------------------------------------------------------------------------------------

    def _arm(self) -> bool:
        # At once if already past. In an empty context: the operation's (which holds this allowance)
        # would stay with the handle after `close()` cancels it, a cycle only a collection frees.
        self._timer = self._loop.call_at(self.deadline, self._expire, context=contextvars.Context())
        watch, self._watch = self._watch, None
        if watch is None:
            return False
        watch()
        return True

    def _expire(self) -> None:
        self.expired = True
        self._cut_all(_DEADLINE)

    def _cut_all(self, reason: str) -> None:
        for task in self._in_flight:
            if task not in self._cut and not task.done():
                self._cut[task] = reason
                task.cancel()

    def _late(self, source: str, message: str) -> UpstreamDeadlineExceeded:
        return UpstreamDeadlineExceeded(source, f"{message} ({self.seconds:g} s)", allowance=self)


_current: ContextVar[Allowance | None] = ContextVar("learngraph_allowance", default=None)


async def heard_from_caller() -> None:
    """Lets a watch that has just begun hear a caller who has already left, before the first upstream
    request is sent (the watch takes a step to read, its answer another)."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def current() -> Allowance | None:
    """The allowance of the operation running here, if any."""
    return _current.get()


def apply(allowance: Allowance) -> Token[Allowance | None]:
    """`allowance.applied()` without a context manager, for a server's hot path: `release` after."""
    return _current.set(allowance)


def release(token: Token[Allowance | None]) -> None:
    allowance = _current.get()
    _current.reset(token)
    if allowance is not None:
        allowance.close()


async def waited(source: str, shared: asyncio.Future[T]) -> T:
    """The answer of `shared` (a read in flight), shielded, within the current operation's limits if
    there is one."""
    allowance = _current.get()
    if allowance is None:
        return await asyncio.shield(shared)
    return await allowance.wait(source, shared)


def stopped_for_another(error: BaseException) -> bool:
    """`error` is the limit of an operation other than the one running here: read again rather than
    take it on."""
    return isinstance(error, OPERATION_STOPS) and error.allowance is not _current.get()
