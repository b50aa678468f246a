"""What a caller may see: the rule every read of the data layer applies (writes: `gateway.data.writes`).

    access = Access(caller, upstreams, cache, directory)    # with the request's context; never for ADMIN
    seen = await access.visibility()                         # worked out once per request
    seen.sees(Source.LEARNINGLOGIN, "503")

ADMIN sees everything: an ADMIN request builds no `Access`, and its loaders, listings and people are
the unguarded ones. For anyone else, a person is visible when any of their linked accounts is:
their own, and for a SUPERVISOR those of the members of every DAMSTRA group they supervise and of
all its sub-groups (`parentId`, followed down). Groups: a SUPERVISOR's supervised groups and their
sub-groups, and the groups the caller belongs to. Lessons and ILT sessions (the catalogue) are
everyone's. A record that names no known person is ADMIN's alone. A caller whose person matches
nobody sees the catalogue only.

How it shows, decided here and in the loaders, listings and people that ask:
- a list leaves out what the caller may not see, and counts only what they may;
- a keyed read answers `Forbidden` in place of such an object, without reading it where its key
  already names its owner (a user id, a username): by ID, a FORBIDDEN error; inside an object the
  caller may see, null and no error (`resolvers.errors`).

The visible set is kept across requests under the `access` cache kind, for the group TTL, and is
dropped with every group or user entry (`EntityCache.invalidate`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.data.cache import EntityCache
from gateway.data.callers import Caller, Role
from gateway.data.identity import IdentityDirectory
from gateway.data.loaders import Batch, Loaders
from gateway.data.people import Account, People, Person
from gateway.errors import Forbidden, InvalidNativeId, UpstreamError, UpstreamNotFound
from gateway.sources import SOURCE_ORDER, Source
from gateway.upstreams.damstra.records import DamstraAttendee, DamstraGroup, DamstraUser
from gateway.upstreams.learninglogin.records import TrainSession
from gateway.upstreams.registry import Upstreams

log = logging.getLogger("gateway.data.access")

AccountKey = tuple[Source, str]

_BY_SLUG = {source.slug: source for source in Source}
MAX_GROUP_DEPTH = 50  # sub-groups followed down; DAMSTRA should hold no cycle, but must not hang us


@dataclass(frozen=True)
class Visibility:
    """Who and which groups one caller may see. Shared across requests: never change it."""

    own: frozenset[AccountKey] = frozenset()
    accounts: frozenset[AccountKey] = frozenset()  # every account of every visible person, own included
    people: tuple[Account, ...] = ()  # the same accounts, with their usernames
    users: tuple[DamstraUser, ...] = ()  # the visible DAMSTRA users, by id
    groups: frozenset[int] = frozenset()
    # The accounts of visible people with no DAMSTRA user (only ever the caller: members are DAMSTRA users).
    damstra_less: frozenset[AccountKey] = frozenset()
    usernames: frozenset[str] = frozenset()  # LEARNINGLOGIN usernames of the visible people
    # A username's person's full name (casefolded): a train session names its trainee only so.
    names: dict[str, str] = field(default_factory=dict)

    def sees(self, source: Source, native_id: str | int | None) -> bool:
        return native_id is not None and (source, str(native_id)) in self.accounts

    def owns(self, source: Source, native_id: str | int | None) -> bool:
        return native_id is not None and (source, str(native_id)) in self.own

    def sees_group(self, group_id: int | str) -> bool:
        return str(group_id).isdigit() and int(group_id) in self.groups

    @classmethod
    def of(cls, me: Person, others: Iterable[Person], groups: Iterable[int]) -> Visibility:
        people = [me, *others]
        accounts = {(a.source, a.native_id): a for p in people for a in p.accounts}
        names: dict[str, str] = {}
        for person in people:
            if person.damstra is not None:
                full = " ".join(n for n in (person.damstra.first_name, person.damstra.last_name) if n)
                for username in person.learninglogin_usernames():
                    names[username] = full.casefold()
        users = {p.damstra.id: p.damstra for p in people if p.damstra is not None}
        return cls(
            own=frozenset((a.source, a.native_id) for a in me.accounts),
            accounts=frozenset(accounts),
            people=tuple(accounts.values()),
            users=tuple(users[i] for i in sorted(users)),
            groups=frozenset(groups),
            damstra_less=frozenset(
                (a.source, a.native_id) for p in people if p.damstra is None for a in p.accounts
            ),
            usernames=frozenset(u for p in people for u in p.learninglogin_usernames()),
            names=names,
        )


NOBODY = Visibility()


class Access:
    """One request's caller (not ADMIN) and what they may see."""

    def __init__(
        self, caller: Caller, upstreams: Upstreams, cache: EntityCache, directory: IdentityDirectory
    ) -> None:
        self.caller = caller
        self._upstreams = upstreams
        self._cache = cache
        self._directory = directory
        self._seen: asyncio.Future[Visibility] | None = None
        self.refresh()

    def refresh(self) -> None:
        """After a write: what the rules themselves read (whether a record exists) is read anew."""
        # Unguarded: the rules must read what the caller may not see to decide that they may not.
        self.raw = Loaders(self._upstreams, self._cache)
        self.raw_people = People(self._directory, self.raw)

    async def visibility(self) -> Visibility:
        if self._seen is None:
            scope = self._upstreams.cache_scope(Source.DAMSTRA)
            key = (self.caller.role, self.caller.person)
            read = self._cache.read_through("access", scope, key, self._work_out)
            self._seen = asyncio.ensure_future(read)
        return await asyncio.shield(self._seen)

    def known_visibility(self) -> Visibility | None:
        """The visible set when it is already worked out (this request has awaited it), else None:
        for answers given in place, which must not wait for it."""
        seen = self._seen
        if seen is None or not seen.done() or seen.cancelled() or seen.exception() is not None:
            return None
        return seen.result()

    # -- working out the visible set -----------------------------------------------------------

    async def _work_out(self) -> Visibility:
        me = await self._me()
        if me is None:
            return NOBODY
        user = me.damstra
        groups: set[int] = set(user.group_ids) if user is not None else set()
        members: dict[int, DamstraUser] = {}
        if self.caller.role >= Role.SUPERVISOR and user is not None and user.supervised_group_ids:
            tree = await self._group_tree(user.supervised_group_ids)
            groups |= tree
            found = await asyncio.gather(*(self._members(g) for g in sorted(tree)))
            members = {u.id: u for listed in found for u in listed if u.id != user.id}
            self.raw.prime_damstra_users(list(members.values()))
        others = [self.raw_people.from_damstra(u) for u in members.values()]
        return Visibility.of(me, others, groups)

    async def _me(self) -> Person | None:
        ref = self.caller.person
        if ref is None:
            log.warning("caller %r names no person: the catalogue only", self.caller.name)
            return None
        try:
            if ref.email is not None:
                me = await self._by_email(ref.email)
            elif ref.account is not None:
                me = await self.raw_people.for_account(*ref.account)
            else:
                me = None
        except (InvalidNativeId, UpstreamNotFound):
            me = None
        if me is None:
            log.warning("caller %r names a person nobody matches: the catalogue only", self.caller.name)
        return me

    async def _by_email(self, email: str) -> Person | None:
        if self._upstreams.has(Source.DAMSTRA):
            user: DamstraUser | None = await self.raw.damstra_user_by_email.load(email)
            if user is not None:
                return self.raw_people.from_damstra(user)
        linked = self._directory.find_by_email(email)
        if linked is None:
            return None
        source, native = next((s, linked.ids(s)[0]) for s in SOURCE_ORDER if linked.ids(s))
        return await self.raw_people.for_account(source, native, seen_upstream=True)

    async def _group_tree(self, supervised: list[int]) -> set[int]:
        """The supervised groups and all their sub-groups. DAMSTRA lists no group's children: every
        group is read (a page per hundred), and each read group is cached for later reads."""
        every = await self._upstreams.need_damstra().groups().all()
        scope = self._upstreams.cache_scope(Source.DAMSTRA)
        children: dict[int, list[int]] = {}
        for group in every:
            self._cache.set("group", scope, str(group.id), group)
            # A group naming itself as parent (the seed's example does) has none.
            if group.parent_id is not None and group.parent_id != group.id:
                children.setdefault(group.parent_id, []).append(group.id)
        listed = {g.id for g in every}
        tree = {g for g in supervised if g in listed}
        edge = set(tree)
        for _ in range(MAX_GROUP_DEPTH):
            edge = {child for g in edge for child in children.get(g, []) if child not in tree}
            if not edge:
                break
            tree |= edge
        return tree

    async def _members(self, group_id: int) -> list[DamstraUser]:
        try:
            return await self._upstreams.need_damstra().group_members(group_id).all()
        except UpstreamNotFound:  # inactivated since it was listed
            return []

    # -- guards the loaders wrap their batch functions in --------------------------------------

    def keyed(self, batch: Batch, source: Source, key_of: Callable[[Any], str] = str) -> Batch:
        """Keys that are `source` account ids: those the caller may not see answer Forbidden, unread."""

        async def guarded(keys: list[Any]) -> list[Any]:
            seen = await self.visibility()
            return await _only(batch, keys, lambda key: seen.sees(source, key_of(key)))

        return guarded

    def by_username(self, batch: Batch) -> Batch:
        async def guarded(keys: list[Any]) -> list[Any]:
            seen = await self.visibility()
            return await _only(batch, keys, lambda username: username in seen.usernames)

        return guarded

    def owned(self, batch: Batch, owner: Callable[[Any], AccountKey | None]) -> Batch:
        """Records that name their owner: read, then Forbidden in place of one the caller may not see."""

        async def guarded(keys: list[Any]) -> list[Any]:
            values, seen = await asyncio.gather(batch(keys), self.visibility())

            def allowed(value: Any) -> bool:
                found = owner(value)
                return found is not None and seen.sees(*found)

            return [_or_forbidden(value, allowed) for value in values]

        return guarded

    def groups(self, batch: Batch) -> Batch:
        """Groups are read even when not visible, so that by ID a missing one is NOT_FOUND."""

        async def guarded(keys: list[Any]) -> list[Any]:
            values, seen = await asyncio.gather(batch(keys), self.visibility())
            return [
                _or_forbidden(v, lambda g: isinstance(g, DamstraGroup) and seen.sees_group(g.id))
                for v in values
            ]

        return guarded

    def attendees(self, batch: Batch) -> Batch:
        async def guarded(keys: list[Any]) -> list[Any]:
            values, seen = await asyncio.gather(batch(keys), self.visibility())
            return [
                value
                if isinstance(value, BaseException)
                else [
                    a
                    for a in value
                    if isinstance(a, DamstraAttendee) and seen.sees(Source.DAMSTRA, a.user_id)
                ]
                for value in values
            ]

        return guarded

    def train_sessions(self, batch: Batch) -> Batch:
        """A train session names no login, only its trainee's full name: it is the caller's to see when
        it is among the sessions of a visible username whose person has that name (or whose name is
        not known: a person with no DAMSTRA user). One read per such username, most often one; a
        session whose name matches no visible person's is Forbidden unread."""

        async def guarded(keys: list[Any]) -> list[Any]:
            values, seen = await asyncio.gather(batch(keys), self.visibility())

            async def check(value: Any) -> Any:
                if isinstance(value, TrainSession) and not await self._owns_session(seen, value):
                    return Forbidden("this caller may not see this schedule")
                return value

            return list(await asyncio.gather(*(check(v) for v in values)))

        return guarded

    async def _owns_session(self, seen: Visibility, session: TrainSession) -> bool:
        name = (session.full_name or "").casefold()
        candidates = sorted(u for u in seen.usernames if seen.names.get(u) in (None, name))
        loader = self.raw.train_sessions_by_username
        found = await asyncio.gather(*(loader.load(u) for u in candidates), return_exceptions=True)
        if any(not isinstance(f, BaseException) and any(s.id == session.id for s in f) for f in found):
            return True
        failures = [f for f in found if isinstance(f, UpstreamError)]
        if failures:  # not shown to be theirs, nor shown not to be
            raise failures[0]
        return False

    async def damstra_schedule_owner_check(self, schedule_id: str) -> None:
        """Forbidden unless the caller may see this DAMSTRA schedule (UpstreamNotFound: there is none)."""
        schedule = await self.raw.schedule.load(schedule_id)
        if not (await self.visibility()).sees(Source.DAMSTRA, schedule.user_id):
            raise Forbidden("this caller may not see this schedule")


async def _only(batch: Batch, keys: list[Any], allowed: Callable[[Any], bool]) -> list[Any]:
    wanted = [key for key in keys if allowed(key)]
    found = dict(zip(wanted, await batch(wanted), strict=True)) if wanted else {}
    return [found[key] if key in found else Forbidden("this caller may not see this") for key in keys]


def _or_forbidden(value: Any, allowed: Callable[[Any], bool]) -> Any:
    if value is None or isinstance(value, BaseException) or allowed(value):
        return value
    return Forbidden("this caller may not see this")
