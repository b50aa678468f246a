"""`IScoutClient`: iScout's one endpoint, `completedtrainings.list`, declared once.

    client = IScoutClient.connect("https://api.iscout.com/v1", secret=SecretStr(token))
    page = await client.completions(user_id="5804f0f40ef50473af5870e6").page(1, limit=50)
    async for completion in client.completions(training_id=...).iterate(): ...

The one method is a POST that only reads: it goes through the read path (retried, de-duplicated).
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from gateway.sources import Source
from gateway.upstreams.auth import Auth, BodyAuth
from gateway.upstreams.connector import Connector
from gateway.upstreams.endpoints import ListEndpoint
from gateway.upstreams.iscout.errors import decode_iscout_error
from gateway.upstreams.iscout.records import IScoutCompletion, IScoutPage
from gateway.upstreams.paging import PageNumberPaging, PageRequest

SOURCE = Source.ISCOUT
COMPLETIONS_METHOD = "completedtrainings.list"
MAX_PAGE_SIZE = 1000  # iScout's document: "Max 1000"; more answers parameter_invalid


def _filters(user_id: str | None, training_id: str | None) -> dict[str, Any]:
    filters = {"user_id": user_id, "training_id": training_id}
    return {name: value for name, value in filters.items() if value is not None}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class CompletionListing(ListEndpoint[IScoutCompletion]):
    """`completedtrainings.list`: newest first, a page by number and `limit` in the JSON body; the
    pages of a whole read follow one another (`paging.last_page` says where they end)."""

    page_size = MAX_PAGE_SIZE

    def paging(self, page_size: int) -> PageNumberPaging:
        return PageNumberPaging(page_size=page_size)

    async def page(self, page: int = 1, *, limit: int = 100) -> IScoutPage:
        # One read, de-duplicated while in flight like any other, rather than `read_window`: this
        # window is the page asked for alone, short or not, and it answers the page's `last_page`.
        body = await self.http.read_json(
            self.method, self.request.path, json={**(self.request.json or {}), "limit": limit, "page": page}
        )
        items = self.parse(body["completedtrainings"])
        paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
        total, last_page = _int_or_none(paging.get("total")), _int_or_none(paging.get("last_page"))
        if total is None and last_page is not None and page == last_page:
            total = (page - 1) * limit + len(items)
        return IScoutPage(items, total, page=page, last_page=last_page)


class IScoutClient(Connector):
    """iScout completed trainings, newest first, filtered by user and/or training."""

    source = SOURCE
    decode_error = staticmethod(decode_iscout_error)

    async def probe(self) -> None:
        await self.completions().page(limit=1)

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return BodyAuth("token", secret)

    def completions(self, *, user_id: str | None = None, training_id: str | None = None) -> CompletionListing:
        request = PageRequest(COMPLETIONS_METHOD, json=_filters(user_id, training_id))
        return CompletionListing(self.http, IScoutCompletion, request, method="POST")


CONNECTOR = IScoutClient
