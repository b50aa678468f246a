"""Relay connections: `XConnection { edges { node cursor } pageInfo totalCount }` for every list.

Offset cursors serve upstreams that page by position; the merged completion stream
builds its own keyset cursors and hands them in ready-made.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from gateway.upstreams.paging import MAX_POSITION
from resolvers.scalars import DateTime

T = TypeVar("T")

DEFAULT_PAGE = 20
MAX_PAGE = 1000
_OFFSET_PREFIX = "offset:"


class InvalidPagingArgument(ValueError):
    code = "BAD_USER_INPUT"


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(name="Edge")
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type(name="Connection")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total: strawberry.Private[int | None] = None
    as_of: DateTime | None = strawberry.field(
        default=None,
        description="When the list came from the training index: the oldest time any of its items was "
        "last confirmed upstream. Null for a list read live.",
    )
    # Counting some lists costs upstream reads; those count only when a client asks.
    count_later: strawberry.Private[Callable[[], Awaitable[int | None]] | None] = None

    @strawberry.field(
        description="How many items the whole list holds, where the upstreams say; null when they do not."
    )
    async def total_count(self) -> int | None:
        if self.count_later is not None:
            return await self.count_later()
        return self.total


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise InvalidPagingArgument("`first` must not be negative")
    if first > MAX_PAGE:
        raise InvalidPagingArgument(f"`first` must be at most {MAX_PAGE}")
    return first


@functools.lru_cache(maxsize=8192)
def offset_cursor(offset: int) -> str:
    # Cached: every page of every list numbers its edges from the same few thousand offsets.
    return base64.b64encode(f"{_OFFSET_PREFIX}{offset}".encode()).decode("ascii")


def offset_after(after: str | None) -> int:
    """The position right after the cursor `after` (0 without one)."""
    if after is None:
        return 0
    try:
        text = base64.b64decode(after.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidPagingArgument(f"{after!r} is not a cursor from this list") from None
    digits = text.removeprefix(_OFFSET_PREFIX)
    # isdigit() also takes other scripts' digits ("٣"); only ASCII ones make a cursor of ours.
    if not text.startswith(_OFFSET_PREFIX) or not (digits.isascii() and digits.isdigit()):
        raise InvalidPagingArgument(f"{after!r} is not a cursor from this list")
    if len(digits) > 10 or int(digits) >= MAX_POSITION:
        # No list reaches that far: never sent upstream as a position.
        raise InvalidPagingArgument(f"{after!r} points past the end of any list")
    return int(digits) + 1


def from_window(
    nodes: Sequence[T], start: int, total: int | None, *, has_next: bool | None = None
) -> Connection[T]:
    """A connection over nodes that sit at positions start, start+1, ... of the whole list."""
    edges = [Edge(node=node, cursor=offset_cursor(start + n)) for n, node in enumerate(nodes)]
    if has_next is None:
        has_next = total is not None and start + len(nodes) < total
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total=total,
    )


def from_list(items: Sequence[T], first: int | None, after: str | None) -> Connection[T]:
    """A connection paging through a list held whole in memory."""
    start = offset_after(after)
    size = page_size(first)
    return from_window(items[start : start + size], start, len(items))


def from_keyed(
    nodes: Sequence[T], cursors: Sequence[str], *, has_next: bool, has_previous: bool, total: int | None
) -> Connection[T]:
    """A connection whose cursors the caller made (keyset paging)."""
    edges = [Edge(node=node, cursor=cursor) for node, cursor in zip(nodes, cursors, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total=total,
    )
