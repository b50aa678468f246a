"""One connection over several lists laid end to end: a paged upstream listing first, then
lists only known whole (identity-file people, codes gathered from records). Offsets run
across the whole; a later list is read only when a page reaches it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from gateway.errors import UpstreamError
from resolvers import relay
from resolvers.info import Info, path_of

T = TypeVar("T")

Window = Callable[[int, int], Awaitable[tuple[list[T], int | None]]]


class Segment(Protocol[T]):
    async def read(self, start: int, size: int) -> tuple[list[T], int | None]:
        """Items from `start`, and the segment's length where known."""
        ...

    async def total(self) -> int | None: ...


@dataclass
class PagedSegment(Generic[T]):
    """A listing read a window at a time; its total comes with each window."""

    window: Window[T]
    known_total: int | None = None

    async def read(self, start: int, size: int) -> tuple[list[T], int | None]:
        items, total = await self.window(start, size)
        if total is None and len(items) < size:
            total = start + len(items)  # a short page without a count ends the list
        self.known_total = total
        return items, total

    async def total(self) -> int | None:
        if self.known_total is None:
            await self.read(0, 1)
        return self.known_total


@dataclass
class WholeSegment(Generic[T]):
    """A list only known whole, loaded once however often it is read."""

    load: Callable[[], Awaitable[list[T]]]
    _loaded: asyncio.Future[list[T]] | None = field(default=None, repr=False)

    async def _items(self) -> list[T]:
        if self._loaded is None:
            self._loaded = asyncio.ensure_future(self.load())
        return await asyncio.shield(self._loaded)

    async def read(self, start: int, size: int) -> tuple[list[T], int | None]:
        items = await self._items()
        return items[start : start + size], len(items)

    async def total(self) -> int | None:
        return len(await self._items())


async def segmented(
    info: Info, segments: list[Segment[T]], first: int | None, after: str | None
) -> relay.Connection[T]:
    start, size = relay.offset_after(after), relay.page_size(first)
    nodes: list[T] = []
    base = 0  # where the current segment begins in the whole
    has_next = False
    for n, segment in enumerate(segments):
        local = max(0, start + len(nodes) - base)
        want = size - len(nodes)
        try:
            items, total = await segment.read(local, max(want, 1))
        except UpstreamError as exc:
            info.context.report(exc, path_of(info))
            items, total = [], 0
        taken = items[:want]
        nodes += taken
        if len(nodes) >= size:
            if total is None or local + len(taken) < total:
                has_next = True
            else:
                has_next = any([(await s.total()) or 0 for s in segments[n + 1 :]])
            break
        if total is None:
            break
        base += total

    async def count() -> int | None:
        totals = []
        for segment in segments:
            try:
                totals.append(await segment.total())
            except UpstreamError:
                totals.append(None)
        return None if any(t is None for t in totals) else sum(t for t in totals if t is not None)

    connection = relay.from_window(nodes, start, None, has_next=has_next)
    connection.count_later = count
    return connection
