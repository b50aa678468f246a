"""The four upstream sources, in the order a linked person takes their ID from (docs/contract.md §5)."""

from __future__ import annotations

import enum
import functools


class Source(enum.Enum):
    DAMSTRA = "damstra"
    LEARNINGLOGIN = "learninglogin"
    TRAINING_RECORDS = "training_records"
    ISCOUT = "iscout"

    # Members are singletons compared by identity: hashed so too, in C, rather than by Enum's
    # `hash(self._name_)` in Python (a dashboard looks sources up in sets and dicts thousands of times).
    __hash__ = object.__hash__

    @functools.cached_property
    def slug(self) -> str:
        """The lower-case name used inside global IDs and configuration keys. Kept in the member's
        own dict once read: `value` is a descriptor, and every upstream request names its source."""
        return str(self.value)


SOURCE_ORDER: tuple[Source, ...] = tuple(Source)
