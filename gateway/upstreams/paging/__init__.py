"""How the upstreams page their listings: the styles (`styles`) and the loops that read them (`drivers`).

The styles are pure (a response in, the next request out) and are what this package exports; the
drivers send the requests, so they are imported from `gateway.upstreams.paging.drivers`.
"""

from __future__ import annotations

from gateway.upstreams.paging.styles import (
    MAX_POSITION,
    LimitOffsetPaging,
    LinkHeaderPaging,
    Listing,
    PageNumberPaging,
    PageRequest,
    Paging,
    PositionalPaging,
    StartIndexPaging,
)

__all__ = [
    "MAX_POSITION",
    "LimitOffsetPaging",
    "LinkHeaderPaging",
    "Listing",
    "PageNumberPaging",
    "PageRequest",
    "Paging",
    "PositionalPaging",
    "StartIndexPaging",
]
