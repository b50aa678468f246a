"""A feed: how one source's listings are read into the index, page by page, resumably.

    feed = DamstraFeed(client, sink, concurrency=4)
    for phase in feed.phases():                      # users, groups, lessons, schedules, ...
        cursor = None
        while (cursor := await phase.step(cursor, now())) is not DONE: save(cursor)

A step reads one page (or one small batch) from where `cursor` says (None: from the start), writes
what it read confirmed at `at`, and answers where to read on, or `DONE`. The cursor is plain JSON:
the sync keeps it in the index's sync state, so a pass stopped midway reads on from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from gateway.index.rows import Kind
from gateway.sources import Source

DONE: Final = "__done__"

Step = Callable[[Any, datetime], Awaitable[Any]]


@dataclass(frozen=True)
class Phase:
    name: str
    step: Step


class Feed(Protocol):
    source: Source
    kinds: Sequence[Kind]
    """The kinds a full pass confirms, all of them: what is older at its end is gone upstream."""

    def phases(self) -> list[Phase]: ...
