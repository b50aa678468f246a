"""The filters `User.schedules` takes beyond status and source: LearningLogin's search filters (its
documents' ransack list, docs/vendors.md) under the Schedule fields they compare.

    flt = ScheduleFilter(score=80, certificate_expiring_before=date(2027, 1, 1))
    TrainSessionFilters(**flt.train_session_params("jdoe"))   # sent to LEARNINGLOGIN
    [s for s in schedules if flt.accepts(s)]                  # every source's, checked here

LEARNINGLOGIN is asked with the filters, so it answers fewer sessions; every source's schedules are then
checked here, LEARNINGLOGIN's too (its two documents disagree on whether `cert_expiry_gt/lt` include the
day; the check makes the answer exact either way). A schedule without the field compared never matches,
as a NULL column matches no ransack predicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from gateway.sources import Source
from resolvers.schedule import Schedule


def _day(value: datetime | None) -> date | None:
    return value.astimezone(UTC).date() if value is not None else None


@dataclass(frozen=True)
class ScheduleFilter:
    due_on: date | None = None  # complete_by_eq
    progress_percent: float | None = None  # percent_complete_eq
    score: float | None = None  # score_eq
    failed_attempts: int | None = None  # failed_attempts_eq
    last_attempt_on: date | None = None  # last_attempt_eq (LEARNINGLOGIN alone keeps such a date)
    completed_after: date | None = None  # completion_date_gteq, inclusive
    completed_before: date | None = None  # completion_date_lteq, inclusive
    certificate_expiring_after: date | None = None  # cert_expiry_gt, strictly after
    certificate_expiring_before: date | None = None  # cert_expiry_lt, strictly before

    def is_empty(self) -> bool:
        return self == _NO_FILTER  # asked for each member of a list: the generated __eq__, no loop here

    def train_session_params(self, username: str) -> dict[str, Any]:
        return {
            "assignee_login_username_eq": username,
            "complete_by_eq": self.due_on,
            "percent_complete_eq": self.progress_percent,
            "score_eq": self.score,
            "failed_attempts_eq": self.failed_attempts,
            "last_attempt_eq": self.last_attempt_on,
            "completion_date_gteq": self.completed_after,
            "completion_date_lteq": self.completed_before,
            "cert_expiry_gt": self.certificate_expiring_after,
            "cert_expiry_lt": self.certificate_expiring_before,
        }

    def accepts(self, schedule: Schedule) -> bool:
        checks: list[tuple[Any, Any]] = [
            (self.due_on, _day(schedule.due_date)),
            (self.progress_percent, schedule.progress_percent),
            (self.score, schedule.score),
            (self.failed_attempts, schedule.failed_attempts),
        ]
        for wanted, have in checks:
            if wanted is not None and have != wanted:
                return False
        # No Schedule field shows the last attempt: LEARNINGLOGIN's answer is taken as filtered; no other
        # source records one.
        if self.last_attempt_on is not None and schedule.source is not Source.LEARNINGLOGIN:
            return False
        completed = _day(schedule.completed_at)
        if (self.completed_after or self.completed_before) and completed is None:
            return False
        if self.completed_after and completed is not None and completed < self.completed_after:
            return False
        if self.completed_before and completed is not None and completed > self.completed_before:
            return False
        expires = schedule.certificate_expires_on
        if (self.certificate_expiring_after or self.certificate_expiring_before) and expires is None:
            return False
        if (
            self.certificate_expiring_after
            and expires is not None
            and expires <= self.certificate_expiring_after
        ):
            return False
        return not (
            self.certificate_expiring_before
            and expires is not None
            and expires >= self.certificate_expiring_before
        )


_NO_FILTER = ScheduleFilter()
