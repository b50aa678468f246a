"""`Date` (YYYY-MM-DD) and `DateTime` (ISO 8601, normalised to UTC on output)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from gateway.dates import parse_datetime


def _serialize_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string, e.g. 2026-11-23T09:30:00Z")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time, e.g. 2026-11-23T09:30:00Z") from None
    if parsed is None:
        raise ValueError("DateTime must not be empty")
    return parsed


def _parse_date(value: Any) -> dt.date:
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD") from None


if TYPE_CHECKING:
    DateTime = dt.datetime
    Date = dt.date
else:
    DateTime = NewType("DateTime", dt.datetime)
    Date = NewType("Date", dt.date)

SCALAR_MAP: dict[object, ScalarDefinition] = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="ISO 8601 date-time with offset; always answered in UTC (`Z`).",
        serialize=_serialize_datetime,
        parse_value=_parse_datetime,
    ),
    Date: strawberry.scalar(
        name="Date",
        description="A calendar date, YYYY-MM-DD.",
        serialize=lambda value: value.isoformat(),
        parse_value=_parse_date,
    ),
}
