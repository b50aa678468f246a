"""The date shapes DAMSTRA writes: each resource has its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from gateway.dates import format_damstra_datetime
from sandbox.instants import remembered

PERTH = timezone(timedelta(hours=8))

# Formatting was most of a lesson listing's time: each shape is remembered by instant.


@remembered
def date_offset(value: datetime) -> str:
    """Users and lessons: `2015-10-29T15:28:59+0000`."""
    return format_damstra_datetime(value)


@remembered
def date_millis_z(value: datetime) -> str:
    """Lesson schedules, created users and webhooks: `2016-08-24T15:00:00.000Z`."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


@remembered
def date_plain(value: datetime) -> str:
    """Groups: `2015-10-29 15:28:59`, no offset (UTC)."""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


@remembered
def date_perth(value: datetime) -> str:
    """ILT sessions and attendees: `2018-05-19T01:00:06.000+0800`, the same instant in UTC+8."""
    local = value.astimezone(PERTH)
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}+0800"
