"""Training Records' record and write marker: what the rest of the gateway reads, with no connector."""

from __future__ import annotations

import enum
from typing import Literal

from gateway.upstreams.records import Record, UpstreamDateTime


class TrainingRecord(Record):
    api_id: str
    person_api_id: str | None = None
    package_api_id: str | None = None
    package_desc: str | None = None  # the package's description, copied in by the upstream
    date_assigned: UpstreamDateTime = None
    date_started: UpstreamDateTime = None
    date_completed: UpstreamDateTime = None


class Unset(enum.Enum):
    UNSET = "UNSET"


UNSET: Literal[Unset.UNSET] = Unset.UNSET
"""Marks a PATCH field as not sent (None clears a date; UNSET leaves it alone)."""
