"""Reads of upstream lists: searches, pages and whole listings, as opposed to the keyed,
batched look-ups in `loaders`. Together they are the one door every read passes, so the
resolvers never hold a connector.

    listings = Listings(upstreams, cache, access)   # built with the request's Loaders
    page = await listings.damstra_users(q="smith", start=0, size=20)
    async for session in listings.train_sessions(filters): ...

With an `Access` (every caller but ADMIN), the lists of people and groups hold only those the
caller may see, answered from their visible set (no upstream read, an exact count); the lists of
records keep only those of people the caller may see. The catalogue reads are everyone's.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from gateway.data.cache import EntityCache
from gateway.data.completions import CompletionItem
from gateway.data.vendors import completions_reader
from gateway.errors import Forbidden, UpstreamNotFound
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

if TYPE_CHECKING:
    from gateway.data.access import Access

# DAMSTRA's `activeValue`, for a list answered from the visible set.
_ACTIVE: dict[str, Callable[[DamstraUser], bool]] = {
    "active": lambda user: user.is_active,
    "inactive": lambda user: not user.is_active,
    "all": lambda user: True,
}


def _matches(user: DamstraUser, q: str | None, email: str | None, emp_id: str | None) -> bool:
    """DAMSTRA's user search, as its API documents it: `q` in the user name, first or last name;
    `emailAddress` and `empId` exact."""
    if q and q.strip():
        needle = q.strip().casefold()
        names = (user.user_name, user.first_name, user.last_name, f"{user.first_name} {user.last_name}")
        if not any(needle in (text or "").casefold() for text in names):
            return False
    if email and (user.email_address or "").casefold() != email.casefold():
        return False
    return not emp_id or user.employee_number == emp_id


class Listings:
    def __init__(self, upstreams: Upstreams, cache: EntityCache, access: Access | None = None) -> None:
        self._upstreams = upstreams
        self._cache = cache
        self._access = access

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
        role_id: int | None = None,
        start: int = 0,
        size: int = 100,
    ) -> Listing[DamstraUser]:
        if self._access is not None:
            active = _ACTIVE[active_value]
            return await self._visible_users(
                lambda u: (
                    active(u) and _matches(u, q, email, emp_id) and (role_id is None or role_id in u.roles)
                ),
                start=start,
                size=size,
            )
        users = self._upstreams.need_damstra().users(
            q=q, email=email, emp_id=emp_id, active_value=active_value, role_id=role_id
        )
        return await users.window(start_index=start, max_results=size)

    async def every_damstra_user(self, *, active_value: ActiveValue = "all") -> AsyncIterator[DamstraUser]:
        if self._access is not None:
            for user in (await self._access.visibility()).users:
                if _ACTIVE[active_value](user):
                    yield user
            return
        async for user in self._upstreams.need_damstra().users(active_value=active_value).iterate():
            yield user

    async def damstra_groups(self, *, q: str | None, start: int, size: int) -> Listing[DamstraGroup]:
        if self._access is not None:
            ids = sorted((await self._access.visibility()).groups)
            loader = self._access.raw.group
            found = await asyncio.gather(*(loader.load(str(i)) for i in ids), return_exceptions=True)
            for failure in found:
                if isinstance(failure, BaseException) and not isinstance(failure, UpstreamNotFound):
                    raise failure
            needle = (q or "").strip().casefold()
            groups = [g for g in found if isinstance(g, DamstraGroup) and needle in g.name.casefold()]
            return Listing(groups[start : start + size], len(groups))
        return await self._upstreams.need_damstra().groups(q=q).window(start_index=start, max_results=size)

    async def group_members(self, group_id: str, *, start: int, size: int) -> Listing[DamstraUser]:
        if self._access is not None:
            return await self._visible_users(lambda u: int(group_id) in u.group_ids, start=start, size=size)
        client = self._upstreams.need_damstra()

        async def read() -> Listing[DamstraUser]:
            return await client.group_members(group_id).window(start_index=start, max_results=size)

        # The upstream's page, kept for the group TTL and dropped with any group or user entry
        # (`EntityCache`): a warm dashboard of a group reads nothing upstream.
        scope = self._upstreams.cache_scope(Source.DAMSTRA)
        return await self._cache.read_through("group_members", scope, (group_id, start, size), read)

    async def group_supervisors(self, group_id: str, *, start: int, size: int) -> Listing[DamstraUser]:
        if self._access is not None:
            return await self._visible_users(
                lambda u: int(group_id) in u.supervised_group_ids, start=start, size=size
            )
        supervisors = self._upstreams.need_damstra().group_supervisors(group_id)
        return await supervisors.window(start_index=start, max_results=size)

    async def _visible_users(
        self, keep: Callable[[DamstraUser], bool], *, start: int, size: int
    ) -> Listing[DamstraUser]:
        assert self._access is not None
        users = [u for u in (await self._access.visibility()).users if keep(u)]
        return Listing(users[start : start + size], len(users))

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
        """A page of sessions. By `lesson_schedule_id`, Forbidden for the schedule of someone the caller
        may not see (a read of the schedule first): the session names whom it trains."""
        await self._check_schedule_filter(filters)
        sessions = self._upstreams.need_damstra().ilt_sessions(**filters)
        return await sessions.window(start_index=start, max_results=size)

    async def every_ilt_session(self, **filters: Any) -> AsyncIterator[DamstraILTSession]:
        await self._check_schedule_filter(filters)
        async for session in self._upstreams.need_damstra().ilt_sessions(**filters).iterate():
            yield session

    async def _check_schedule_filter(self, filters: dict[str, Any]) -> None:
        schedule_id = filters.get("lesson_schedule_id")
        if self._access is not None and schedule_id is not None:
            await self._access.damstra_schedule_owner_check(str(schedule_id))

    async def embed_url(self, schedule_id: str) -> str:
        return await self._upstreams.need_damstra().get_embed_url(schedule_id)

    async def certificate(self, schedule_id: str) -> bytes:
        """Forbidden for a schedule of someone the caller may not see (a read of the schedule first)."""
        if self._access is not None:
            await self._access.damstra_schedule_owner_check(schedule_id)
        return await self._upstreams.need_damstra().get_certificate(schedule_id)

    # -- LEARNINGLOGIN ----------------------------------------------------------------------------

    async def train_sessions(self, filters: TrainSessionFilters | None = None) -> AsyncIterator[TrainSession]:
        """Every matching train session, read afresh (never this request's earlier reads). A train
        session names no login: only a search by a visible username finds any for a caller who is
        not ADMIN."""
        if self._access is not None:
            username = filters.assignee_login_username_eq if filters else None
            if username is None or username not in (await self._access.visibility()).usernames:
                return
        async for session in self._upstreams.need_learninglogin().train_sessions(filters).iterate():
            yield session

    async def course_codes(self, search: str | None = None) -> AsyncIterator[str]:
        """The catalogue: the course codes train sessions name (whoever's), matching `search` in a
        course code or name."""
        filters = TrainSessionFilters(course_code_or_course_name_cont=search)
        async for session in self._upstreams.need_learninglogin().train_sessions(filters).iterate():
            if session.course_code:
                yield session.course_code

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
        if self._access is None:
            return await reader(self._upstreams.client(source), user_ids)
        seen = await self._access.visibility()
        if user_ids is not None:
            user_ids = [i for i in user_ids if seen.sees(source, i)]
            if not user_ids:
                return []
        items = await reader(self._upstreams.client(source), user_ids)
        return [item for item in items if item.user is not None and seen.sees(*item.user)]

    # -- ISCOUT -----------------------------------------------------------------------------------

    async def iscout_completions_page(
        self, *, user_id: str | None = None, training_id: str | None = None, limit: int, page: int = 1
    ) -> IScoutPage:
        """One page; for a caller who is not ADMIN, Forbidden for a user they may not see, and without
        a user, only the items of users they may see (a shorter page)."""
        if (
            self._access is not None
            and user_id is not None
            and not (await self._access.visibility()).sees(Source.ISCOUT, user_id)
        ):
            raise Forbidden("this caller may not see this user's completions")
        completions = self._upstreams.need_iscout().completions(user_id=user_id, training_id=training_id)
        found = await completions.page(page, limit=limit)
        if self._access is not None and user_id is None:
            seen = await self._access.visibility()
            kept = [c for c in found.items if seen.sees(Source.ISCOUT, c.user_id)]
            return dataclasses.replace(found, items=kept, total=None)
        return found

    async def iscout_completions(
        self, *, user_id: str | None = None, training_id: str | None = None
    ) -> AsyncIterator[IScoutCompletion]:
        """Every matching completion the caller may see; for a user they may not, Forbidden when there is any."""
        seen = await self._access.visibility() if self._access is not None else None
        client = self._upstreams.need_iscout()
        async for completion in client.completions(user_id=user_id, training_id=training_id).iterate():
            if seen is None or seen.sees(Source.ISCOUT, completion.user_id):
                yield completion
            elif user_id is not None:
                raise Forbidden("this caller may not see this user's completions")

    async def iscout_training_ids(self) -> AsyncIterator[str]:
        """The catalogue: every training some completion names (whoever's)."""
        async for completion in self._upstreams.need_iscout().completions().iterate():
            yield completion.training_id

    async def has_iscout_training(self, training_id: str) -> bool:
        listing = await self._upstreams.need_iscout().completions(training_id=training_id).page(limit=1)
        return bool(listing.items)
