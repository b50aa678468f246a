"""`Date` (YYYY-MM-DD) and `DateTime` (ISO 8601, normalised to UTC on output)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from gateway.dates import parse_datetime


@functools.lru_cache(maxsize=16384)
def _serialize_datetime(value: dt.datetime) -> str:
    # Kept: a dashboard answers the same few thousand due dates on every read.
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# An input without an offset could mean any of the world's time zones; training dates cross them.
_OFFSET = re.compile(r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")


def _parse_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string, e.g. 2026-11-23T09:30:00Z")
    if not _OFFSET.search(value.strip()):
        raise ValueError(f"{value!r} has no UTC offset: give one, e.g. 2026-11-23T09:30:00Z or +10:00")
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
