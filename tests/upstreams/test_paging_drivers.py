"""The paging drivers against a tiny inline upstream: windows, whole listings read at once, short pages,
listings that grow, limits and failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.errors import UpstreamNotFound
from gateway.upstreams.paging import PageRequest, StartIndexPaging
from gateway.upstreams.paging.drivers import collect, fetch_window
from tests.upstreams.inline_upstream import WIRES, Upstream, client, served


@pytest.fixture(params=WIRES)
async def upstream(request: pytest.FixtureRequest) -> AsyncIterator[Upstream]:
    async with served(Upstream(), request.param) as upstream:
        yield upstream


async def test_paginate_follows_short_pages_to_the_total(upstream: Upstream) -> None:
    http = client(upstream)
    items = await collect(http, StartIndexPaging(page_size=5), PageRequest("/paged"))
    assert [i["n"] for i in items] == list(range(10))
    window = await fetch_window(
        http, StartIndexPaging(page_size=4, start_index=2), PageRequest("/paged"), limit=4
    )
    assert [i["n"] for i in window.items] == [2, 3, 4, 5]
    assert window.total == 10


# -- a whole listing at once ----------------------------------------------------------------------


def starts(upstream: Upstream) -> list[int]:
    return [int(r.query_params["startIndex"]) for r in upstream.seen]


async def test_collect_reads_the_pages_after_the_first_at_once(upstream: Upstream) -> None:
    upstream.size = upstream.total = 25
    items = await collect(client(upstream), StartIndexPaging(page_size=5), PageRequest("/listing"))
    assert [i["n"] for i in items] == list(range(25))
    # The upstream cut the first page to 3: the rest are asked 3 at a time, all at once (so in no set
    # order: each goes on a connection of its own, and which reaches the server first is the network's).
    assert starts(upstream)[0] == 0 and sorted(starts(upstream)[1:]) == list(range(3, 25, 3))
    assert {r.query_params["maxResults"] for r in upstream.seen[1:]} == {"3"}
    assert upstream.most_in_flight == 8


async def test_collect_bounds_the_pages_in_flight(upstream: Upstream) -> None:
    upstream.size = upstream.total = 30
    items = await collect(
        client(upstream), StartIndexPaging(page_size=3), PageRequest("/listing"), pages_at_once=2
    )
    assert [i["n"] for i in items] == list(range(30))
    assert len(upstream.seen) == 10 and upstream.most_in_flight == 2


async def test_a_short_page_never_ends_the_listing_early(upstream: Upstream) -> None:
    upstream.size = upstream.total = 15
    upstream.short = {6, 12}  # two pages each leave one item out; the last of them ends the listing
    items = await collect(client(upstream), StartIndexPaging(page_size=3), PageRequest("/listing"))
    assert [i["n"] for i in items] == list(range(15))
    # The gap after the page at 6 is read before the page at 9 is used; after the last page the count says
    # one item remains, so it is followed too.
    assert sorted(starts(upstream)) == [0, 3, 6, 8, 9, 12, 14]


async def test_a_listing_that_grew_meanwhile_is_read_to_its_end(upstream: Upstream) -> None:
    upstream.size = upstream.total = 9
    upstream.grow = 4  # four items arrive right after the first page was read
    items = await collect(client(upstream), StartIndexPaging(page_size=3), PageRequest("/listing"))
    assert [i["n"] for i in items] == list(range(13))
    # Pages at 3 and 6 at once, as the first count said; then the last one's count tells of more.
    assert sorted(starts(upstream)) == [0, 3, 6, 9, 12]


async def test_collect_stops_at_the_limit_and_without_a_count_reads_page_after_page(
    upstream: Upstream,
) -> None:
    upstream.size = upstream.total = 25
    items = await collect(client(upstream), StartIndexPaging(page_size=3), PageRequest("/listing"), limit=7)
    assert [i["n"] for i in items] == list(range(7))
    assert starts(upstream)[0] == 0 and sorted(starts(upstream)[1:]) == [3, 6]  # these two at once
    # No `meta` (DAMSTRA's user schedules): nothing tells where the listing ends but a short page.
    upstream.seen.clear()
    upstream.meta, upstream.most_in_flight = False, 0
    items = await collect(client(upstream), StartIndexPaging(page_size=3), PageRequest("/listing"))
    assert [i["n"] for i in items] == list(range(25))
    assert starts(upstream) == list(range(0, 27, 3)) and upstream.most_in_flight == 1


async def test_a_failing_page_fails_the_listing(upstream: Upstream) -> None:
    upstream.size = upstream.total = 30
    upstream.failures_left = 1
    with pytest.raises(UpstreamNotFound):
        await collect(
            client(upstream), StartIndexPaging(page_size=3), PageRequest("/listing"), pages_at_once=1
        )
    await asyncio.sleep(0.05)
    # The first page, the failing one and at most the one that took its turn: the 7 others were never asked.
    assert len(upstream.seen) <= 3
