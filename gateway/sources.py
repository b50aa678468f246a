"""The four upstream sources, in the order a linked person takes their ID from (docs/contract.md §5)."""

from __future__ import annotations

import enum


class Source(enum.Enum):
    DAMSTRA = "damstra"
    LEARNINGLOGIN = "learninglogin"
    TRAINING_RECORDS = "training_records"
    ISCOUT = "iscout"

    @property
    def slug(self) -> str:
        """The lower-case name used inside global IDs and configuration keys."""
        return self.value


SOURCE_ORDER: tuple[Source, ...] = tuple(Source)
