"""Completions from the four sources as one stream, newest first, paged by keyset cursors.

Each source contributes a stream already in the merged order: iScout is sorted newest
first upstream and is read page by page only as far as the page of answers needs; the
others cannot sort, so their (filtered) completions are read and sorted here. A cursor
holds the sort key of the last item shown and how many iScout items were consumed, so
the next page starts at the right iScout page and never repeats or skips an item.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

from gateway.sources import SOURCE_ORDER, Source
from gateway.upstreams.paging import MAX_POSITION

ISCOUT_PAGE = 100


class InvalidCursor(ValueError):
    code = "BAD_USER_INPUT"


@dataclass(frozen=True)
class CompletionItem:
    source: Source
    native_id: str
    completed_at: datetime
    user: tuple[Source, str] | None
    lesson: tuple[Source, str] | None
    score: float | None = None
    passed: bool | None = None
    expires_on: date | None = None
    schedule: tuple[Source, str] | None = None
    instructor: tuple[Source, str] | None = None
    lesson_name: str | None = None  # where the record names its lesson (a code alone says little)
    # The upstream record it was read from, so the schedule behind it needs no second read.
    record: Any = field(default=None, compare=False, repr=False)

    @property
    def sort_key(self) -> tuple[float, int, str]:
        # Newest first; ties broken by source order, then native id, so the order is total.
        return (-self.completed_at.timestamp(), SOURCE_ORDER.index(self.source), self.native_id)


@dataclass(frozen=True)
class CompletionFilter:
    completed_after: date | None = None  # inclusive, by UTC day
    completed_before: date | None = None  # inclusive, by UTC day
    expiring_before: date | None = None  # expiresOn strictly before
    lesson: tuple[Source, str] | None = None
    expiring_after: date | None = None  # expiresOn strictly after
    score: float | None = None  # exactly this score

    def accepts(self, item: CompletionItem) -> bool:
        day = item.completed_at.astimezone(UTC).date()
        if self.completed_after and day < self.completed_after:
            return False
        if self.completed_before and day > self.completed_before:
            return False
        if self.expiring_before and (item.expires_on is None or item.expires_on >= self.expiring_before):
            return False
        if self.expiring_after and (item.expires_on is None or item.expires_on <= self.expiring_after):
            return False
        if self.score is not None and item.score != self.score:
            return False
        return self.lesson is None or item.lesson == self.lesson

    @property
    def by_expiry(self) -> bool:
        return self.expiring_before is not None or self.expiring_after is not None


def day_start(value: date) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


@dataclass
class Cursor:
    key: tuple[float, int, str]
    iscout_consumed: int = 0

    def encode(self) -> str:
        payload = orjson.dumps({"k": list(self.key), "i": self.iscout_consumed})
        return base64.urlsafe_b64encode(b"completions:" + payload).decode("ascii")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value.encode("ascii"))
            if not raw.startswith(b"completions:"):
                raise ValueError
            data = orjson.loads(raw.removeprefix(b"completions:"))
            t, s, n = data["k"]
            consumed = data["i"]
            if not isinstance(consumed, int) or not 0 <= consumed < MAX_POSITION:
                raise ValueError  # past the end of any list: never sent upstream as a page
            return cls((float(t), int(s), str(n)), consumed)
        except (binascii.Error, UnicodeError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise InvalidCursor(f"{value!r} is not a cursor from this list") from None


IScoutPages = Callable[[int], Awaitable[tuple[list[CompletionItem], bool]]]
"""Fetch iScout page N (from 1, ISCOUT_PAGE items each): its items and whether more pages follow."""


@dataclass
class SourceStreams:
    """What each source offers for one query: sorted-here lists, or iScout page readers."""

    eager: dict[Source, Awaitable[list[CompletionItem]]] = field(default_factory=dict)
    iscout: list[IScoutPages] = field(default_factory=list)


@dataclass
class MergedPage:
    items: list[CompletionItem]
    cursors: list[str]
    has_next: bool
    failures: dict[Source, Exception]


async def _iscout_stream(
    pages: IScoutPages, start: int, state: dict[str, int]
) -> AsyncIterator[CompletionItem]:
    """iScout items in merged order from upstream position `start`.

    iScout sorts by day only: items of one day may come in any order, even across a page
    boundary. Each day's group is read whole and sorted; `state["resume"]` is where the group
    of the last item yielded begins, the safe place for a later page to start again.
    """
    page = start // ISCOUT_PAGE + 1
    skip = start % ISCOUT_PAGE
    index = start
    group: list[CompletionItem] = []
    group_start = start
    while True:
        items, more = await pages(page)
        for item in items[skip:]:
            if group and item.completed_at.date() != group[0].completed_at.date():
                for ready in sorted(group, key=lambda i: i.sort_key):
                    state["resume"] = group_start
                    yield ready
                group, group_start = [], index
            group.append(item)
            index += 1
        skip = 0
        if not more or not items:
            break
        page += 1
    for ready in sorted(group, key=lambda i: i.sort_key):
        state["resume"] = group_start
        yield ready


async def merge(streams: SourceStreams, flt: CompletionFilter, first: int, after: str | None) -> MergedPage:
    """The `first` completions after `after`, newest first, with a cursor for each."""
    cursor = Cursor.decode(after) if after else None
    failures: dict[Source, Exception] = {}

    heap: list[tuple[tuple[float, int, str], int, CompletionItem]] = []
    iterators: dict[int, AsyncIterator[CompletionItem]] = {}

    # One iScout reader (the usual case) resumes where the cursor says; several start over.
    single = len(streams.iscout) == 1
    iscout_state = {"resume": cursor.iscout_consumed if cursor and single else 0}
    for n, pages in enumerate(streams.iscout):
        iterators[n] = _iscout_stream(pages, iscout_state["resume"] if single else 0, iscout_state)

    async def pull(n: int) -> None:
        iterator = iterators[n]
        while True:
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                del iterators[n]
                return
            except Exception as exc:
                failures[Source.ISCOUT] = exc
                del iterators[n]
                return
            if cursor is not None and item.sort_key <= cursor.key:
                continue
            if not flt.accepts(item):
                # Newest first: once past the window's older edge nothing later can match.
                if flt.completed_after and item.completed_at < day_start(flt.completed_after):
                    del iterators[n]
                    return
                continue
            heapq.heappush(heap, (item.sort_key, -1 - n, item))
            return

    # Each iScout reader's first item is pulled while the other sources are read, not after them.
    eager_sources = list(streams.eager)
    eager = asyncio.gather(*streams.eager.values(), return_exceptions=True)
    results, _ = await asyncio.gather(eager, asyncio.gather(*(pull(n) for n in list(iterators))))
    counter = 0
    for source, result in zip(eager_sources, results, strict=True):
        if isinstance(result, BaseException):
            failures[source] = result if isinstance(result, Exception) else Exception(str(result))
            continue
        for item in result:
            if flt.accepts(item) and (cursor is None or item.sort_key > cursor.key):
                heap.append((item.sort_key, counter, item))
                counter += 1
    heapq.heapify(heap)  # the iScout items pulled meanwhile are in it too

    waiting = dict.fromkeys(iterators, False)
    chosen: list[CompletionItem] = []
    cursors: list[str] = []
    while len(chosen) <= first:
        # Every live iScout reader keeps one item in the heap, so the heap's top is the true next item.
        for n in [n for n, needs in waiting.items() if needs and n in iterators]:
            await pull(n)
            waiting[n] = False
        if not heap:
            break
        _, tag, item = heapq.heappop(heap)
        if tag < 0:
            waiting[-1 - tag] = True
        if len(chosen) == first:
            # One more exists: there is a next page. Put nothing back; the cursor already marks the spot.
            return MergedPage(chosen, cursors, True, failures)
        chosen.append(item)
        cursors.append(Cursor(item.sort_key, iscout_state["resume"] if single else 0).encode())
    return MergedPage(chosen, cursors, False, failures)


def merge_total(counts: Sequence[int | None]) -> int | None:
    return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)


def as_item_list(items: Sequence[Any]) -> list[CompletionItem]:
    return sorted(items, key=lambda item: item.sort_key)
