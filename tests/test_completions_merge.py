"""The merged completion stream: order, cursors without gaps or repeats, lazy iScout reads."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.data.completions import (
    ISCOUT_PAGE,
    CompletionFilter,
    CompletionItem,
    InvalidCursor,
    SourceStreams,
    merge,
)
from gateway.errors import UpstreamUnavailable
from gateway.sources import Source

START = datetime(2026, 1, 1, tzinfo=UTC)


def item(source: Source, n: int, when: datetime) -> CompletionItem:
    return CompletionItem(source, f"{source.slug}-{n:04d}", when, None, None)


def world(seed: int = 3) -> tuple[dict[Source, list[CompletionItem]], list[CompletionItem]]:
    rng = random.Random(seed)
    eager = {
        source: [
            item(source, n, START - timedelta(hours=rng.randint(0, 24 * 300)))
            for n in range(rng.randint(20, 60))
        ]
        for source in (Source.DAMSTRA, Source.LEARNINGLOGIN, Source.TRAINING_RECORDS)
    }
    # iScout knows days only: many completions share a day, in no particular order within it.
    days = sorted((START - timedelta(days=rng.randint(0, 300)) for _ in range(40)), reverse=True)
    iscout = [item(Source.ISCOUT, n, days[n % len(days)]) for n in range(250)]
    by_day: dict[datetime, list[CompletionItem]] = {}
    for completion in iscout:
        by_day.setdefault(completion.completed_at, []).append(completion)
    shuffled: list[CompletionItem] = []
    for day in sorted(by_day, reverse=True):
        rng.shuffle(by_day[day])
        shuffled += by_day[day]
    assert [i.native_id for i in shuffled] != [
        i.native_id for i in sorted(shuffled, key=lambda i: i.sort_key)
    ]
    return eager, shuffled


class IScout:
    def __init__(self, items: list[CompletionItem]) -> None:
        self.items = items
        self.pages_read: list[int] = []

    async def __call__(self, page: int) -> tuple[list[CompletionItem], bool]:
        self.pages_read.append(page)
        chunk = self.items[(page - 1) * ISCOUT_PAGE : page * ISCOUT_PAGE]
        return chunk, page * ISCOUT_PAGE < len(self.items)


def streams(eager: dict[Source, list[CompletionItem]], iscout: IScout) -> SourceStreams:
    async def ready(items: list[CompletionItem]) -> list[CompletionItem]:
        return list(items)

    return SourceStreams(eager={s: ready(items) for s, items in eager.items()}, iscout=[iscout])


@pytest.mark.parametrize("page_size", [1, 7, 20, 100, 1000])
async def test_paging_through_the_merge_gives_every_item_once_in_order(page_size: int) -> None:
    eager, iscout_items = world()
    expected = sorted(
        [*iscout_items, *(i for items in eager.values() for i in items)], key=lambda i: i.sort_key
    )
    seen: list[CompletionItem] = []
    after = None
    while True:
        page = await merge(streams(eager, IScout(iscout_items)), CompletionFilter(), page_size, after)
        seen += page.items
        assert len(page.items) <= page_size
        if not page.has_next:
            break
        after = page.cursors[-1]
    assert [i.native_id for i in seen] == [i.native_id for i in expected]


async def test_the_first_page_reads_only_the_iscout_pages_it_needs() -> None:
    eager, iscout_items = world()
    reader = IScout(iscout_items)
    page = await merge(streams({}, reader), CompletionFilter(), 10, None)
    assert len(page.items) == 10 and page.has_next
    assert reader.pages_read == [1]


async def test_a_resumed_page_starts_at_the_right_iscout_page() -> None:
    _, iscout_items = world()
    first = await merge(streams({}, IScout(iscout_items)), CompletionFilter(), 150, None)
    reader = IScout(iscout_items)
    second = await merge(streams({}, reader), CompletionFilter(), 10, first.cursors[-1])
    assert reader.pages_read[0] == 2
    assert second.items[0].sort_key > first.items[-1].sort_key


async def test_filters_and_early_stop_on_the_older_edge() -> None:
    eager, iscout_items = world()
    cutoff = (START - timedelta(days=30)).date()
    reader = IScout(iscout_items)
    flt = CompletionFilter(completed_after=cutoff)
    page = await merge(streams(eager, reader), flt, 1000, None)
    assert page.items and all(i.completed_at.date() >= cutoff for i in page.items)
    assert not page.has_next
    assert len(reader.pages_read) < 3  # newest first: reading stops past the cutoff


async def test_a_failing_source_is_reported_and_the_rest_stand() -> None:
    eager, iscout_items = world()

    async def broken() -> list[CompletionItem]:
        raise UpstreamUnavailable("damstra", "down")

    merged = SourceStreams(eager={Source.DAMSTRA: broken()}, iscout=[IScout(iscout_items)])
    page = await merge(merged, CompletionFilter(), 5, None)
    assert len(page.items) == 5
    assert isinstance(page.failures[Source.DAMSTRA], UpstreamUnavailable)


async def test_expiry_filter() -> None:
    soon = CompletionItem(Source.ISCOUT, "a", START, None, None, expires_on=date(2026, 3, 1))
    later = CompletionItem(Source.ISCOUT, "b", START, None, None, expires_on=date(2027, 3, 1))
    never = CompletionItem(Source.ISCOUT, "c", START, None, None)
    page = await merge(
        streams({Source.DAMSTRA: [soon, later, never]}, IScout([])),
        CompletionFilter(expiring_before=date(2026, 6, 1)),
        10,
        None,
    )
    assert [i.native_id for i in page.items] == ["a"]


async def test_a_forged_cursor_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        await merge(SourceStreams(), CompletionFilter(), 5, "bm90LWEtY3Vyc29y")


async def test_iscout_is_read_while_the_other_sources_are_not_after_them() -> None:
    # One upstream wave, not two: the DAMSTRA list can only finish once iScout's first page was asked.
    eager, iscout_items = world()
    reader = IScout(iscout_items)
    iscout_asked = asyncio.Event()

    async def asked_page(page: int) -> tuple[list[CompletionItem], bool]:
        iscout_asked.set()
        return await reader(page)

    async def damstra() -> list[CompletionItem]:
        await iscout_asked.wait()
        return eager[Source.DAMSTRA]

    merged = SourceStreams(eager={Source.DAMSTRA: damstra()}, iscout=[asked_page])
    page = await asyncio.wait_for(merge(merged, CompletionFilter(), 10, None), timeout=5)
    expected = sorted([*iscout_items, *eager[Source.DAMSTRA]], key=lambda i: i.sort_key)[:10]
    assert page.items == expected
    assert reader.pages_read == [1]
