"""A listing endpoint as a vendor client declares it: bound to its inputs, then read as a window or whole.

    sessions = client.ilt_sessions(status=1)         # a DamstraListing[DamstraILTSession]; nothing sent
    window = await sessions.window(start_index=20, max_results=20)
    every = await sessions.all()                     # the pages after the first at once, where it can
    async for session in sessions.iterate(): ...     # page after page; leaving the loop reads no more

A client declares each listing once, as a method answering one of these: its path, its filters and
its record type. The vendor's subclass says how its listings page and how a window of one is asked
for, in the vendor's own words (`start_index`/`max_results`, `page`, `limit`/`offset`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from gateway.upstreams.http import UpstreamHTTP
from gateway.upstreams.paging import Listing, PageRequest, Paging
from gateway.upstreams.paging.drivers import collect, fetch_window, paginate
from gateway.upstreams.records import parse_records

R = TypeVar("R", bound=BaseModel)


class ListEndpoint(ABC, Generic[R]):
    """One listing of an upstream with its inputs bound; every read of it parses into `record`."""

    page_size: ClassVar[int] = 100
    """Items a page when reading from the start, unless the caller asks for another size."""

    def __init__(
        self, http: UpstreamHTTP, record: type[R], request: PageRequest, *, method: str = "GET"
    ) -> None:
        self.http = http
        self.record = record
        self.request = request
        self.method = method

    @abstractmethod
    def paging(self, page_size: int) -> Paging:
        """The vendor's paging style, reading from the start `page_size` items a page."""

    async def all(self, *, page_size: int | None = None) -> list[R]:
        """Every item, in order. Once the first page tells the total, a style that addresses pages
        by position has the pages after it read at once (`collect`)."""
        items = await collect(self.http, self._paging(page_size), self.request, self.method)
        return self.parse(items)

    async def iterate(self, *, page_size: int | None = None) -> AsyncIterator[R]:
        """Every item, in order, each page read when the loop reaches it: a loop that stops early
        asks for no further page."""
        async for page in paginate(self.http, self._paging(page_size), self.request, self.method):
            for record in self.parse(page.items):
                yield record

    async def read_window(self, paging: Paging, limit: int) -> Listing[R]:
        """Up to `limit` items from where `paging` starts, and the total when the upstream tells it:
        what a vendor's window method asks for."""
        window = await fetch_window(self.http, paging, self.request, limit, self.method)
        return Listing(self.parse(window.items), window.total)

    def parse(self, items: Any) -> list[R]:
        return parse_records(self.http.source, self.record, items)

    def _paging(self, page_size: int | None) -> Paging:
        return self.paging(self.page_size if page_size is None else page_size)
