"""LearningLogin's records and search filters: what the rest of the gateway reads, with no connector."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Literal

from gateway.upstreams.records import LenientFloat, Record, UpstreamDate

NO_MATCHING_TRAIN_SESSIONS = "NO_MATCHING_TRAIN_SESSIONS"
"""The `upstream_code` of an unassign that matched no train session (LearningLogin's 200-with-text)."""


UnassignIdsForm = Literal["json-list", "brackets"]
"""How the older unassign sends its ids: `ids=[1,2]` as the short document writes it, or Rack's `ids[]=1&ids[]=2`."""


class TrainSession(Record):
    """A training record: one course assigned to one login. It names the trainee (`full_name`) but
    not their login id; a person's sessions are found with `assignee_login_username_eq`."""

    id: int
    course_code: str | None = None
    # Lenient: Rails renders decimal columns as JSON strings ("80.0").
    score: LenientFloat = None
    percent_complete: LenientFloat = None
    failed_attempts: int | None = None
    status: str | None = None  # Assigned | In Progress | Completed
    cert_expiry: UpstreamDate = None
    completion_date: UpstreamDate = None
    complete_by: UpstreamDate = None
    last_attempt: UpstreamDate = None  # filterable, but LearningLogin's documents' bodies do not show it
    full_name: str | None = None
    time_spent: LenientFloat = None  # 12.5, "0.0" or null, all in LearningLogin's documents
    success: bool | None = None  # only `GET /train_sessions/{id}` sends it


@dataclass(frozen=True)
class TrainSessionFilters:
    """The documents' search filters for `GET /train_sessions`; unset ones are not sent.

        TrainSessionFilters(score_eq=80, completion_date_gteq=date(2015, 1, 1))

    LearningLogin's two documents disagree on `cert_expiry_gt/lt`: 000 calls them "greater/less than or equal", 001
    "after/before"; they are sent as named and the upstream decides.
    """

    course_code_or_course_name_cont: str | None = None
    full_name_cont: str | None = None
    score_eq: float | None = None
    completion_date_gteq: date | None = None
    completion_date_lteq: date | None = None
    cert_expiry_gt: date | None = None
    cert_expiry_lt: date | None = None
    percent_complete_eq: float | None = None
    complete_by_eq: date | None = None
    last_attempt_eq: date | None = None
    assignee_login_username_eq: str | None = None
    failed_attempts_eq: int | None = None
    unit_unit_expiry_gt: date | None = None
    unit_unit_expiry_lt: date | None = None

    def to_params(self) -> dict[str, str]:
        # The filters' names, read once: `fields()` walks the class's fields anew at each call.
        values = ((name, getattr(self, name)) for name in _filter_names())
        return {name: _param(value) for name, value in values if value is not None}


@functools.cache
def _filter_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(TrainSessionFilters))


def _param(value: Any) -> str:
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")  # also for a datetime: the API takes dates only
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # `score_eq=80`, as the full document's sample request
    return str(value)
