"""Reads of upstream lists: searches, pages and whole listings, as opposed to the keyed,
batched look-ups in `loaders`. Together they are the one door every read passes, so the
resolvers never hold a connector.

    listings = Listings(upstreams, cache)           # built with the request's Loaders
    page = await listings.damstra_users(q="smith", start=0, size=20)
    async for session in listings.train_sessions(filters): ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from gateway.data.cache import EntityCache
from gateway.data.completions import CompletionItem
from gateway.data.vendors import completions_reader
from gateway.sources import Source
from gateway.upstreams.damstra import (
    ActiveValue,
    DamstraGroup,
    DamstraILTSession,
    DamstraLesson,
    DamstraUser,
)
from gateway.upstreams.iscout import IScoutCompletion, IScoutPage
from gateway.upstreams.learninglogin import TrainSession, TrainSessionFilters
from gateway.upstreams.paging import Listing
from gateway.upstreams.registry import Upstreams


class Listings:
    def __init__(self, upstreams: Upstreams, cache: EntityCache) -> None:
        self._upstreams = upstreams
        self._cache = cache

    def enabled(self) -> list[Source]:
        """The sources this gateway reads; the others are neither asked nor reported."""
        return self._upstreams.enabled()

    # -- DAMSTRA --------------------------------------------------------------------------------

    async def damstra_users(
        self,
        *,
        q: str | None = None,
        email: str | None = None,
        emp_id: str | None = None,
        active_value: ActiveValue = "active",
        start: int = 0,
        size: int = 100,
    ) -> Listing[DamstraUser]:
        return await self._upstreams.need_damstra().search_users(
            q=q, email=email, emp_id=emp_id, active_value=active_value, start_index=start, max_results=size
        )

    def every_damstra_user(self, *, active_value: ActiveValue = "all") -> AsyncIterator[DamstraUser]:
        return self._upstreams.need_damstra().iter_users(active_value=active_value)

    async def damstra_groups(self, *, q: str | None, start: int, size: int) -> Listing[DamstraGroup]:
        return await self._upstreams.need_damstra().list_groups(q=q, start_index=start, max_results=size)

    async def group_members(self, group_id: str, *, start: int, size: int) -> Listing[DamstraUser]:
        client = self._upstreams.need_damstra()
        return await client.list_group_members(group_id, start_index=start, max_results=size)

    async def group_supervisors(self, group_id: str, *, start: int, size: int) -> Listing[DamstraUser]:
        client = self._upstreams.need_damstra()
        return await client.list_group_supervisors(group_id, start_index=start, max_results=size)

    async def damstra_lessons(
        self, *, q: str | None, published_states: Sequence[str], start: int, size: int
    ) -> Listing[DamstraLesson]:
        # A catalogue page is as slow-changing as the lessons on it: kept for the lesson TTL.
        scope = self._upstreams.cache_scope(Source.DAMSTRA)
        key = ("page", q, tuple(published_states), start, size)
        page = self._cache.get("lesson", scope, key)
        if isinstance(page, Listing):
            return page
        fresh = await self._upstreams.need_damstra().list_lessons(
            q=q, published_states=published_states, start_index=start, max_results=size
        )
        self._cache.set("lesson", scope, key, fresh)
        return fresh

    async def ilt_sessions(self, *, start: int, size: int, **filters: Any) -> Listing[DamstraILTSession]:
        client = self._upstreams.need_damstra()
        return await client.list_ilt_sessions(start_index=start, max_results=size, **filters)

    def every_ilt_session(self, **filters: Any) -> AsyncIterator[DamstraILTSession]:
        return self._upstreams.need_damstra().iter_ilt_sessions(**filters)

    async def embed_url(self, schedule_id: str) -> str:
        return await self._upstreams.need_damstra().get_embed_url(schedule_id)

    async def certificate(self, schedule_id: str) -> bytes:
        return await self._upstreams.need_damstra().get_certificate(schedule_id)

    # -- LEARNINGLOGIN ----------------------------------------------------------------------------

    def train_sessions(self, filters: TrainSessionFilters | None = None) -> AsyncIterator[TrainSession]:
        """Every matching train session, read afresh (never this request's earlier reads)."""
        return self._upstreams.need_learninglogin().iter_train_sessions(filters)

    # -- vendors registered beyond the built-in four ---------------------------------------------

    def reads_completions(self, source: Source) -> bool:
        return source in self.enabled() and completions_reader(source) is not None

    async def vendor_completions(
        self, source: Source, user_ids: Sequence[str] | None
    ) -> list[CompletionItem]:
        """An added vendor's completions of these accounts (None: everyone's)."""
        reader = completions_reader(source)
        if reader is None:
            return []
        return await reader(self._upstreams.client(source), user_ids)

    # -- ISCOUT -----------------------------------------------------------------------------------

    async def iscout_completions_page(
        self, *, user_id: str | None = None, training_id: str | None = None, limit: int, page: int = 1
    ) -> IScoutPage:
        return await self._upstreams.need_iscout().list_completions(
            user_id=user_id, training_id=training_id, limit=limit, page=page
        )

    def iscout_completions(
        self, *, user_id: str | None = None, training_id: str | None = None
    ) -> AsyncIterator[IScoutCompletion]:
        return self._upstreams.need_iscout().iter_completions(user_id=user_id, training_id=training_id)
