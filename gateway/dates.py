"""Every date shape the upstreams send, parsed to aware UTC datetimes or plain dates.

Seen in the vendors' documents (docs/vendors.md): `2015-10-29T15:28:59+0000`, `2016-08-24T15:00:00.000Z`,
`2018-05-19T01:00:06.000+0800`, `2015-10-29 15:28:59` (no offset: taken as UTC),
`YYYY-MM-DD`, iScout's `dateNumber` (the integer 20190101) and `created` (epoch milliseconds).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def parse_datetime(value: Any) -> datetime | None:
    """An upstream timestamp as an aware UTC datetime; None for null or empty."""
    if type(value) is str and value[10:11] == "T" and value[:1].isdigit() and value[-1:].isalnum():
        # The common shape (`2015-10-29T15:28:59+0000`, `...000Z`): nothing to strip, not epoch
        # millis; what the general path below does with it, without its checks.
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    elif isinstance(value, int | float):
        return epoch_millis_to_datetime(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) >= 11:
            return epoch_millis_to_datetime(int(text))
        parsed = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        # Offset-less upstream times (DAMSTRA's `2015-10-29 15:28:59`) are UTC in practice.
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def epoch_millis_to_datetime(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def parse_date(value: Any) -> date | None:
    """An upstream calendar date: `YYYY-MM-DD`, `YYYYMMDD` (string or integer) or a timestamp."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int):
        return date_number_to_date(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 8 and text.isdigit():
            return date_number_to_date(int(text))
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = parse_datetime(text)
        return parsed.date() if parsed else None
    raise ValueError(f"not a date: {value!r}")


def date_number_to_date(value: int) -> date:
    """iScout's `dateNumber`: YYYYMMDD as an integer."""
    return date(value // 10000, value // 100 % 100, value % 100)


def format_damstra_datetime(value: datetime) -> str:
    """DAMSTRA accepts the shape its own examples use: `2015-10-29T15:28:59+0000`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
