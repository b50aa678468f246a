"""The four paging styles of the upstreams, each a tiny state machine.

A style turns a first request into pages: `first()` shapes the opening request,
`advance()` reads a response and answers the next request or None, `items()` and
`total()` read a page. The functions of `drivers` run them; nothing else loops.
A style that addresses pages by position (`PositionalPaging`) also answers `position()`
and `at()`, so once the first page tells the total the rest can be asked for at once.

    StartIndexPaging   DAMSTRA           startIndex/maxResults, meta.totalResultCount
    LinkHeaderPaging   LEARNINGLOGIN     RFC 8288 Link rel="next", Total and Per-Page headers
    LimitOffsetPaging  TRAINING_RECORDS  limit/offset; a bare array or {results, count, next}
    PageNumberPaging   ISCOUT            JSON body page/limit, paging.last_page
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import httpx

T = TypeVar("T")

# The furthest position a listing is read from: the vendors take their offsets (startIndex, offset, page)
# as integers, and a signed 32-bit one is the most any of them can be relied on to hold. A position past
# it comes from a cursor this gateway never made, and is never sent.
MAX_POSITION = 2**31 - 1


@dataclass
class Listing(Generic[T]):
    """A window of a listing: the items asked for, and the upstream's total when it says."""

    items: list[T]
    total: int | None = None


@dataclass(frozen=True)
class PageRequest:
    """One request of a paged listing: a path (or an absolute URL the upstream gave us) and its inputs."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] | None = None


class Paging(Protocol):
    def first(self, request: PageRequest) -> PageRequest: ...

    def items(self, body: Any) -> list[Any]: ...

    def total(self, response: httpx.Response, body: Any) -> int | None: ...

    def advance(self, request: PageRequest, response: httpx.Response, body: Any) -> PageRequest | None: ...


@runtime_checkable
class PositionalPaging(Paging, Protocol):
    """A style whose pages are asked for by item position: any page can be asked for without the one before."""

    def position(self, request: PageRequest) -> int:
        """Where in the listing the page `request` asks for starts."""
        ...

    def at(self, request: PageRequest, position: int, size: int) -> PageRequest:
        """`request` moved to ask for `size` items from `position`."""
        ...


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class StartIndexPaging:
    """DAMSTRA: `startIndex`/`maxResults`, `{"results": [...], "meta": {"totalResultCount", ...}}`.

    Pages may come back shorter than asked, so the end is read from `meta`; where a listing
    sends no `meta` (user lesson schedules), a page shorter than `maxResults` is the last.
    """

    page_size: int = 100
    start_index: int = 0

    def first(self, request: PageRequest) -> PageRequest:
        params = {"startIndex": self.start_index, "maxResults": self.page_size, **request.params}
        return replace(request, params=params)

    def items(self, body: Any) -> list[Any]:
        if isinstance(body, list):
            return body
        results = body.get("results") if isinstance(body, dict) else None
        return results if isinstance(results, list) else []

    def total(self, response: httpx.Response, body: Any) -> int | None:
        meta = body.get("meta") if isinstance(body, dict) else None
        return _int_or_none(meta.get("totalResultCount")) if isinstance(meta, dict) else None

    def advance(self, request: PageRequest, response: httpx.Response, body: Any) -> PageRequest | None:
        got = len(self.items(body))
        if got == 0:
            return None
        start = int(request.params.get("startIndex", 0))
        asked = int(request.params.get("maxResults", self.page_size))
        following = start + got
        total = self.total(response, body)
        if total is not None:
            if following >= total:
                return None
        elif got < asked:
            return None
        return replace(request, params={**request.params, "startIndex": following})

    def position(self, request: PageRequest) -> int:
        return int(request.params.get("startIndex", 0))

    def at(self, request: PageRequest, position: int, size: int) -> PageRequest:
        return replace(request, params={**request.params, "startIndex": position, "maxResults": size})


@dataclass(frozen=True)
class LinkHeaderPaging:
    """LEARNINGLOGIN: the next page is wherever `Link: <...>; rel="next"` points."""

    start_page: int = 1

    def first(self, request: PageRequest) -> PageRequest:
        if self.start_page <= 1:
            return request
        return replace(request, params={**request.params, "page": self.start_page})

    def items(self, body: Any) -> list[Any]:
        return body if isinstance(body, list) else []

    def total(self, response: httpx.Response, body: Any) -> int | None:
        return _int_or_none(response.headers.get("Total"))

    def advance(self, request: PageRequest, response: httpx.Response, body: Any) -> PageRequest | None:
        next_url = response.links.get("next", {}).get("url")
        if not next_url or not self.items(body):
            return None
        # The link carries every query parameter the upstream wants; our own are not re-sent.
        # A relative link is relative to the page that gave it, not to our base URL.
        return PageRequest(path=str(response.url.join(next_url)))


@dataclass(frozen=True)
class LimitOffsetPaging:
    """TRAINING_RECORDS: `limit`/`offset`; the body is a bare array or `{count, next, previous, results}`."""

    page_size: int = 100
    offset: int = 0

    def first(self, request: PageRequest) -> PageRequest:
        return replace(request, params={"limit": self.page_size, "offset": self.offset, **request.params})

    def items(self, body: Any) -> list[Any]:
        if isinstance(body, list):
            return body
        results = body.get("results") if isinstance(body, dict) else None
        return results if isinstance(results, list) else []

    def total(self, response: httpx.Response, body: Any) -> int | None:
        return _int_or_none(body.get("count")) if isinstance(body, dict) else None

    def advance(self, request: PageRequest, response: httpx.Response, body: Any) -> PageRequest | None:
        got = len(self.items(body))
        if got == 0:
            return None
        if isinstance(body, dict) and "next" in body:
            if not body["next"]:
                return None
        else:
            total = self.total(response, body)
            asked = int(request.params.get("limit", self.page_size))
            if (total is not None and int(request.params.get("offset", 0)) + got >= total) or (
                total is None and got < asked
            ):
                return None
        offset = int(request.params.get("offset", 0)) + got
        return replace(request, params={**request.params, "offset": offset})

    def position(self, request: PageRequest) -> int:
        return int(request.params.get("offset", 0))

    def at(self, request: PageRequest, position: int, size: int) -> PageRequest:
        return replace(request, params={**request.params, "offset": position, "limit": size})


@dataclass(frozen=True)
class PageNumberPaging:
    """ISCOUT: `page` (from 1) and `limit` in the JSON body; `paging.last_page` says where to stop."""

    page_size: int = 1000
    start_page: int = 1

    def first(self, request: PageRequest) -> PageRequest:
        body = {"limit": self.page_size, "page": self.start_page, **(request.json or {})}
        return replace(request, json=body)

    def items(self, body: Any) -> list[Any]:
        records = body.get("completedtrainings") if isinstance(body, dict) else None
        return records if isinstance(records, list) else []

    def total(self, response: httpx.Response, body: Any) -> int | None:
        paging = body.get("paging") if isinstance(body, dict) else None
        return _int_or_none(paging.get("total")) if isinstance(paging, dict) else None

    def advance(self, request: PageRequest, response: httpx.Response, body: Any) -> PageRequest | None:
        got = len(self.items(body))
        current = int((request.json or {}).get("page", 1))
        paging = body.get("paging") if isinstance(body, dict) else None
        last_page = _int_or_none(paging.get("last_page")) if isinstance(paging, dict) else None
        if got == 0 or (last_page is not None and current >= last_page):
            return None
        if last_page is None and got < int((request.json or {}).get("limit", self.page_size)):
            return None
        return replace(request, json={**(request.json or {}), "page": current + 1})
