"""Where one source's sync stands, kept in the index's sync state so it outlives the process.

    progress = SourceProgress.from_json(stored)      # None: never synced
    progress.state                                   # BACKFILLING | LIVE | DISABLED | FAILING
    progress.phase, progress.cursor                  # where a full pass stopped: it resumes there

A full pass (the backfill, and every reconciliation after it) reads a source's listings phase by
phase, page by page; after each page the cursor is saved, so a restart reads on from it rather
than from the start. `pass_started_at` is when the pass began: every row it read was confirmed
after it, so at its end whatever is older was not seen again upstream and goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gateway.index.store import SyncStateName

# The store's names for a source's state: BACKFILLING | LIVE | DISABLED | FAILING.
SourceState = SyncStateName

# In LearningLogin's `extra`: the train sessions an incremental poll found new and could not attribute
# to a login (gateway.index.feeds.learninglogin); the next full pass attributes them and clears it.
UNATTRIBUTED = "unattributed_sessions"


def unattributed_sessions(cursor: dict[str, Any]) -> list[str]:
    """The sessions awaiting their login, as a sync state's saved progress (`cursor`) lists them."""
    extra = cursor.get("extra")
    found = extra.get(UNATTRIBUTED) if isinstance(extra, dict) else None
    return [str(i) for i in found] if isinstance(found, list) else []


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


@dataclass
class SourceProgress:
    state: SourceState = SourceState.BACKFILLING
    live: bool = False  # a full pass has finished once: the index holds the whole source
    phase: str | None = None  # the phase of the full pass under way
    cursor: Any = None  # where in that phase to read on (a page, an offset, the last user done)
    pass_started_at: datetime | None = None
    last_synced_at: datetime | None = None  # the last read that succeeded, of any kind
    last_full_at: datetime | None = None  # the last full pass that finished
    incremental_from: date | None = None  # LearningLogin: completions read since this day
    error: str | None = None
    passes: int = 0  # full passes finished
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "live": self.live,
            "phase": self.phase,
            "cursor": self.cursor,
            "pass_started_at": self.pass_started_at.isoformat() if self.pass_started_at else None,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
            "last_full_at": self.last_full_at.isoformat() if self.last_full_at else None,
            "incremental_from": self.incremental_from.isoformat() if self.incremental_from else None,
            "error": self.error,
            "passes": self.passes,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SourceProgress:
        if not data:
            return cls()
        try:
            state = SourceState(data.get("state"))
        except ValueError:
            state = SourceState.BACKFILLING
        return cls(
            state=state,
            live=bool(data.get("live")),
            phase=data.get("phase"),
            cursor=data.get("cursor"),
            pass_started_at=_when(data.get("pass_started_at")),
            last_synced_at=_when(data.get("last_synced_at")),
            last_full_at=_when(data.get("last_full_at")),
            incremental_from=_day(data.get("incremental_from")),
            error=data.get("error"),
            passes=int(data.get("passes") or 0),
            extra=dict(data.get("extra") or {}),
        )
