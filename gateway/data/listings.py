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
from gateway.upstreams.damstra.records import (
    ActiveValue,
    DamstraGroup,
    DamstraILTSession,
    DamstraLesson,
    DamstraUser,
)
from gateway.upstreams.iscout.records import IScoutCompletion, IScoutPage
from gateway.upstreams.learninglogin.records import TrainSession, TrainSessionFilters
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
        users = self._upstreams.need_damstra().users(
            q=q, email=email, emp_id=emp_id, active_value=active_value
        )
        return await users.window(start_index=start, max_results=size)

    def every_damstra_user(self, *, active_value: ActiveValue = "all") -> AsyncIterator[DamstraUser]:
        return self._upstreams.need_damstra().users(active_value=active_value).iterate()

    async def damstra_groups(self, *, q: str | None, start: int, size: int) -> Listing[DamstraGroup]:
        return await self._upstreams.need_damstra().groups(q=q).window(start_index=start, max_results=size)

    async def group_members(self, group_id: str, *, start: int, size: int) -> Listing[DamstraUser]:
        members = self._upstreams.need_damstra().group_members(group_id)
        return await members.window(start_index=start, max_results=size)

    async def group_supervisors(self, group_id: str, *, start: int, size: int) -> Listing[DamstraUser]:
        supervisors = self._upstreams.need_damstra().group_supervisors(group_id)
        return await supervisors.window(start_index=start, max_results=size)

    async def damstra_lessons(
        self, *, q: str | None, published_states: Sequence[str], start: int, size: int
    ) -> Listing[DamstraLesson]:
        # A catalogue page is as slow-changing as the lessons on it: kept for the lesson TTL.
        scope = self._upstreams.cache_scope(Source.DAMSTRA)
        key = ("page", q, tuple(published_states), start, size)
        page = self._cache.get("lesson", scope, key)
        if isinstance(page, Listing):
            return page
        lessons = self._upstreams.need_damstra().lessons(q=q, published_states=published_states)
        fresh = await lessons.window(start_index=start, max_results=size)
        self._cache.set("lesson", scope, key, fresh)
        return fresh

    async def ilt_sessions(self, *, start: int, size: int, **filters: Any) -> Listing[DamstraILTSession]:
        sessions = self._upstreams.need_damstra().ilt_sessions(**filters)
        return await sessions.window(start_index=start, max_results=size)

    def every_ilt_session(self, **filters: Any) -> AsyncIterator[DamstraILTSession]:
        return self._upstreams.need_damstra().ilt_sessions(**filters).iterate()

    async def embed_url(self, schedule_id: str) -> str:
        return await self._upstreams.need_damstra().get_embed_url(schedule_id)

    async def certificate(self, schedule_id: str) -> bytes:
        return await self._upstreams.need_damstra().get_certificate(schedule_id)

    # -- LEARNINGLOGIN ----------------------------------------------------------------------------

    def train_sessions(self, filters: TrainSessionFilters | None = None) -> AsyncIterator[TrainSession]:
        """Every matching train session, read afresh (never this request's earlier reads)."""
        return self._upstreams.need_learninglogin().train_sessions(filters).iterate()

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
        completions = self._upstreams.need_iscout().completions(user_id=user_id, training_id=training_id)
        return await completions.page(page, limit=limit)

    def iscout_completions(
        self, *, user_id: str | None = None, training_id: str | None = None
    ) -> AsyncIterator[IScoutCompletion]:
        return self._upstreams.need_iscout().completions(user_id=user_id, training_id=training_id).iterate()
