"""The questions the index answers, as values: who may see the rows, the filters, a page of answers.

The graph builds these (through gateway/data/indexed.py); gateway/index/store.py answers them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, TypeVar

from gateway.sources import Source

T = TypeVar("T")


@dataclass(frozen=True)
class Audience:
    """The accounts whose rows a caller may see (gateway.data.access's visible set): native ids by
    source, and LEARNINGLOGIN usernames (a train session may be indexed under its login's name only)."""

    accounts: Mapping[Source, Collection[str]] = field(default_factory=dict)
    usernames: Collection[str] = ()


@dataclass(frozen=True)
class CompletionQuery:
    """Company-wide completions' filters (the same as gateway.data.completions.CompletionFilter)."""

    completed_after: date | None = None  # inclusive, by UTC day
    completed_before: date | None = None  # inclusive, by UTC day
    expiring_before: date | None = None  # expiresOn strictly before
    lesson: tuple[Source, str] | None = None
    source: Source | None = None
    expiring_after: date | None = None  # expiresOn strictly after
    score: float | None = None  # exactly this score


@dataclass(frozen=True)
class ScheduleQuery:
    """Schedules' filters. `statuses` are ScheduleStatus names (SCHEDULED, DUE, IN_PROGRESS, OVERDUE,
    COMPLETED, CANCELLED, ASSIGNED), judged at `now`; `users` narrows to these accounts (a group's)."""

    statuses: Collection[str] = ()
    due_before: date | None = None  # due on a UTC day before this one
    due_after: date | None = None  # due on a UTC day after this one
    source: Source | None = None
    users: Audience | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, whether more follow, and the oldest confirmation among the rows (asOf)."""

    rows: list[T]
    has_next: bool
    as_of: datetime | None
