"""The loops over a paging style: a listing page after page, a window of it, or all of it at once.

    async for page in paginate(http, LinkHeaderPaging(), PageRequest("train_sessions")): ...
    window = await fetch_window(http, StartIndexPaging(page_size=20, start_index=40), PageRequest("user"), 20)
    every = await collect(http, StartIndexPaging(), PageRequest("user"))

The styles say where the next page is; nothing but these functions follows them. Each page is an
idempotent read through `UpstreamHTTP` (retried, never de-duplicated), and an upstream that links
the page just read as the next one fails the listing rather than looping on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from gateway.errors import UpstreamMalformedResponse
from gateway.upstreams.http import UpstreamHTTP
from gateway.upstreams.paging.styles import Listing, PageRequest, Paging, PositionalPaging

# Pages of one listing in flight at once: a 100-page listing (10,000 records) in one wave after
# its first page. The transport's slots bound the upstream as a whole.
PAGES_AT_ONCE = 100


@dataclass
class Page:
    items: list[Any]
    total: int | None
    request: PageRequest
    next: PageRequest | None


async def paginate(
    http: UpstreamHTTP, paging: Paging, request: PageRequest, method: str = "GET"
) -> AsyncIterator[Page]:
    """Pages of a listing, fetched one after another as the caller asks for them."""
    current: PageRequest | None = paging.first(request)
    while current is not None:
        page = await _page(http, paging, current, method)
        yield page
        current = page.next


async def fetch_window(
    http: UpstreamHTTP, paging: Paging, request: PageRequest, limit: int, method: str = "GET"
) -> Listing[Any]:
    """Up to `limit` items from where `paging` starts, following short pages; `total` from the first page."""
    items: list[Any] = []
    total: int | None = None
    async for page in paginate(http, paging, request, method):
        if total is None:
            total = page.total
        items.extend(page.items)
        if len(items) >= limit:
            break
    return Listing(items[:limit], total)


async def collect(
    http: UpstreamHTTP,
    paging: Paging,
    request: PageRequest,
    method: str = "GET",
    limit: int | None = None,
    *,
    pages_at_once: int = PAGES_AT_ONCE,
) -> list[Any]:
    """Every item of a listing (or the first `limit`), in order.

    Once the first page tells the total, a `PositionalPaging` style has the pages after it read
    at once (`pages_at_once` in flight), each as long as the first page was. A page that comes
    back short is followed one page after another up to where the next one starts, and the last
    page is followed for as long as the upstream says more remain: a short page never ends the
    listing early, and a listing that grew meanwhile is read to its end.
    """
    first = await _page(http, paging, paging.first(request), method)
    items = list(first.items)
    following = first.next
    if (
        first.items
        and following is not None
        and first.total is not None
        and isinstance(paging, PositionalPaging)
    ):
        stride = len(first.items)
        end = first.total
        if limit is not None:
            end = min(end, paging.position(first.request) + limit)
        planned = [paging.at(following, p, stride) for p in range(paging.position(following), end, stride)]
        pages = await _pages_at_once(http, paging, planned, method, pages_at_once)
        for n, page in enumerate(pages):
            items.extend(page.items)
            if n + 1 < len(pages) and page.next is not None:
                items.extend(
                    await _read_up_to(http, paging, page.next, paging.position(planned[n + 1]), method)
                )
        if pages:
            following = pages[-1].next
    while following is not None and (limit is None or len(items) < limit):
        page = await _page(http, paging, following, method)
        items.extend(page.items)
        following = page.next
    return items if limit is None else items[:limit]


async def _page(http: UpstreamHTTP, paging: Paging, request: PageRequest, method: str) -> Page:
    response, body = await http.request(
        method, request.path, params=request.params or None, json=request.json, idempotent=True
    )
    if body is None:
        raise UpstreamMalformedResponse(http.source.slug, "a page of the listing was not JSON")
    following = paging.advance(request, response, body)
    if following is not None and _same_request(http, following, request):
        # Following it would read the same page forever.
        raise UpstreamMalformedResponse(
            http.source.slug, "the upstream linked the page just read as the next one"
        )
    return Page(paging.items(body), paging.total(response, body), request, following)


def _same_request(http: UpstreamHTTP, a: PageRequest, b: PageRequest) -> bool:
    url_a, url_b = http.url_for(a.path), http.url_for(b.path)
    return (
        url_a.copy_with(query=None) == url_b.copy_with(query=None)
        and {**dict(url_a.params), **a.params} == {**dict(url_b.params), **b.params}
        and a.json == b.json
    )


async def _pages_at_once(
    http: UpstreamHTTP, paging: Paging, requests: list[PageRequest], method: str, at_once: int
) -> list[Page]:
    gate = asyncio.Semaphore(at_once)

    async def read(request: PageRequest) -> Page:
        async with gate:
            return await _page(http, paging, request, method)

    tasks = [asyncio.ensure_future(read(request)) for request in requests]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:  # after a failure the pages still to come are not worth reading
            task.cancel()


async def _read_up_to(
    http: UpstreamHTTP, paging: PositionalPaging, request: PageRequest, end: int, method: str
) -> list[Any]:
    """The items from where `request` starts up to position `end`, a page after another."""
    items: list[Any] = []
    current: PageRequest | None = request
    while current is not None and paging.position(current) < end:
        page = await _page(http, paging, current, method)
        items.extend(page.items[: end - paging.position(current)])
        current = page.next
    return items
