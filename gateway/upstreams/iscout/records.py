"""iScout's completion record and page: what the rest of the gateway reads, with no connector."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from gateway.upstreams.paging import Listing
from gateway.upstreams.records import Record, UpstreamDate, UpstreamDateTime


class IScoutCompletion(Record):
    user_id: str
    training_id: str
    created: UpstreamDateTime = None  # epoch milliseconds
    completed_on: UpstreamDate = Field(default=None, alias="dateNumber")  # YYYYMMDD integer
    expires_on: UpstreamDate = Field(default=None, alias="specialExpirationDateNumber")  # often absent
    instructor_id: str | None = None
    group_training_id: str | None = Field(default=None, alias="groupTraining_id")


@dataclass
class IScoutPage(Listing[IScoutCompletion]):
    """One page of completions. iScout promises only `paging.last_page`; `total` is set when the
    upstream sends one, or when this is the last page (then it is exact), and is otherwise None
    rather than the `last_page * limit` upper bound."""

    page: int = 1
    last_page: int | None = None
