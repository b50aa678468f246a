"""Date writers remembered by instant: a sandbox listing writes the same few thousand instants over and over.

    @remembered
    def date_offset(value: datetime) -> str: ...      # now takes (and passes on) None too

Safe because a datetime is immutable and every writer here converts to one zone first, so equal
(same-instant) values are written alike. Naive values depend on the local zone, so they are not kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

CACHED_INSTANTS = 1 << 16  # per writer: more than a 5000-person world's distinct dates of one kind


def remembered(write: Callable[[datetime], str]) -> Callable[[datetime | None], str | None]:
    cached = functools.lru_cache(maxsize=CACHED_INSTANTS)(write)

    @functools.wraps(write)
    def write_or_none(value: datetime | None) -> str | None:
        if value is None:
            return None
        return cached(value) if value.tzinfo is not None else write(value)

    return write_or_none
