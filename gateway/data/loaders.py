"""Per-request dataloaders: one per entity and key, built in the context getter.

aiodataloader binds the running loop when built, so loaders never outlive a request;
what should outlive it goes through `EntityCache`. Each batch function checks the
cache, asks the upstream once for what is missing, and answers an exception in place
of any key that failed, so one bad key never fails its neighbours.

Built with an `Access` (every caller but ADMIN), each loader of what belongs to a person goes
through its rule: what the caller may not see answers `Forbidden`, or is left out of a list.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aiodataloader import DataLoader

from gateway.data.cache import ALL, MISSING, EntityCache
from gateway.errors import Forbidden, UpstreamNotFound
from gateway.sources import Source
from gateway.upstreams.damstra.client import LESSON_BATCH
from gateway.upstreams.damstra.records import (
    DamstraAttendee,
    DamstraGroup,
    DamstraILTSession,
    DamstraLesson,
    DamstraSchedule,
    DamstraUser,
    ScheduleStatusFilter,
)
from gateway.upstreams.iscout.records import IScoutCompletion
from gateway.upstreams.learninglogin.records import TrainSession, TrainSessionFilters
from gateway.upstreams.registry import Upstreams
from gateway.upstreams.training_records.records import TrainingRecord

if TYPE_CHECKING:
    from gateway.data.access import Access, Visibility

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

UserSchedulesKey = tuple[str, ScheduleStatusFilter]
# A DataLoader batch function: keys in, an answer (or an exception) for each out.
Batch = Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]


def _user_schedules_key(key: str | UserSchedulesKey) -> UserSchedulesKey:
    return key if isinstance(key, tuple) else (key, "all")


@dataclass(frozen=True)
class TrainingRecords:
    """The whole TRAINING_RECORDS list as read once, and grouped by person. Shared: never change it."""

    records: list[TrainingRecord]
    by_person: dict[str, list[TrainingRecord]] = field(default_factory=dict)

    @classmethod
    def of(cls, records: list[TrainingRecord]) -> TrainingRecords:
        by_person: dict[str, list[TrainingRecord]] = defaultdict(list)
        for record in records:
            if record.person_api_id:
                by_person[record.person_api_id].append(record)
        return cls(records, dict(by_person))


def _damstra_owner(user: DamstraUser) -> tuple[Source, str]:
    return (Source.DAMSTRA, str(user.id))


def _damstra_schedule_owner(schedule: DamstraSchedule) -> tuple[Source, str] | None:
    return (Source.DAMSTRA, str(schedule.user_id)) if schedule.user_id is not None else None


def _training_record_owner(record: TrainingRecord) -> tuple[Source, str] | None:
    return (Source.TRAINING_RECORDS, record.person_api_id) if record.person_api_id else None


@dataclass
class _Together:
    """Works handed to `Loaders.together` in one tick: released when the last is done."""

    release: asyncio.Future[None]
    running: int = 0
    closed: bool = False  # no more works join (the tick they were handed in has passed)

    def leave(self, done: int = 1) -> None:
        self.running -= done
        if self.running == 0 and self.closed and not self.release.done():
            self.release.set_result(None)

    async def released(self) -> None:
        if not self.release.done():
            await asyncio.shield(self.release)  # a cancelled waiter must not cancel the others' release


async def _each(keys: Sequence[K], fetch: Callable[[K], Awaitable[V]]) -> list[V | BaseException]:
    """One call per key, all at once, an exception in place of each failure."""
    results = await asyncio.gather(*(fetch(key) for key in keys), return_exceptions=True)
    return list(results)


def _in_status(every: list[DamstraSchedule], status: str, now: datetime) -> list[DamstraSchedule]:
    """A user's whole list narrowed to DAMSTRA's `status=` word, by the status as of now, as
    `Schedule.status` reads it (a kept list may be a while old)."""
    return every if status == "all" else [s for s in every if s.status_at(now) == status]


class Loaders:
    def __init__(self, upstreams: Upstreams, cache: EntityCache, access: Access | None = None) -> None:
        self.upstreams = upstreams
        self.cache = cache
        self.access = access
        self._every_record: asyncio.Future[TrainingRecords] | None = None
        self._all_ilt_sessions: asyncio.Future[list[DamstraILTSession]] | None = None
        self._visible_records: tuple[TrainingRecords, TrainingRecords] | None = None  # (whole, visible)
        self._together: _Together | None = None  # the group `together` is gathering this tick

    # Built on first use: most requests touch two or three of these, and each costs a few µs.

    @cached_property
    def damstra_user(self) -> DataLoader[Any, Any]:
        batch: Batch = self._damstra_users
        if self.access is not None:
            batch = self.access.keyed(batch, Source.DAMSTRA)
        return DataLoader(batch)

    @cached_property
    def damstra_user_by_email(self) -> DataLoader[Any, Any]:
        batch: Batch = self._damstra_users_by_email
        if self.access is not None:
            batch = self.access.owned(batch, _damstra_owner)
        return DataLoader(batch)

    @cached_property
    def damstra_user_by_employee_number(self) -> DataLoader[Any, Any]:
        batch: Batch = self._damstra_users_by_employee_number
        if self.access is not None:
            batch = self.access.owned(batch, _damstra_owner)
        return DataLoader(batch)

    @cached_property
    def lesson(self) -> DataLoader[Any, Any]:
        return DataLoader(self._lessons, max_batch_size=LESSON_BATCH)

    def known_lesson(self, lesson_id: str) -> DamstraLesson | None:
        """A DAMSTRA lesson the cross-request cache holds, answered in place: what `lesson.load` would
        answer without an upstream read, minus its future and its turn of the loop (a dashboard asks
        for hundreds). None when it must be read: then `lesson.load`, batched."""
        found = self.cache.get("lesson", self._scope(Source.DAMSTRA), lesson_id)
        return None if found is MISSING else cast(DamstraLesson, found)

    # -- answers at hand: what a loader would answer without a wait ------------------------------
    # A warm dashboard's hundred members each ask for their schedules: answered in place, each
    # member completes without a coroutine, a future or a task (the loaders' answers come a turn of
    # the loop later, whatever they hold). Only for a caller whose visible set is already known: the
    # same rule the loaders' access wrappers apply, applied here.

    def known_user_schedules(self, user_id: str, status: str) -> list[DamstraSchedule] | None:
        """`user_schedules.load((user_id, status))`'s answer when the user's list is in the cross-request
        cache and the caller may see it; None when it must be loaded."""
        if not self.cache.keeps("damstra_schedules") or not self._sees_now(Source.DAMSTRA, user_id):
            return None
        found = self.cache.get(
            "damstra_schedules", self._scope(Source.DAMSTRA), user_id, counting_misses=False
        )
        if found is MISSING:
            return None
        return _in_status(cast("list[DamstraSchedule]", found), status, datetime.now(UTC))

    def known_train_sessions(self, username: str) -> list[TrainSession] | None:
        """`train_sessions_by_username.load(username)`'s answer when it needs no wait (as above)."""
        if not self.cache.keeps("learninglogin_schedules"):
            return None
        if self.access is not None:
            seen = self.access.known_visibility()
            if seen is None or username not in seen.usernames:
                return None
        found = self.cache.get(
            "learninglogin_schedules", self._scope(Source.LEARNINGLOGIN), username, counting_misses=False
        )
        return None if found is MISSING else cast("list[TrainSession]", found)

    def known_training_records_by_person(self) -> dict[str, list[TrainingRecord]] | None:
        """`training_records_by_person()`'s answer when this request has it, or the cache holds the list."""
        if self._every_record is None:
            scope = self._scope(Source.TRAINING_RECORDS)
            found = self.cache.get("training_records", scope, ALL, counting_misses=False)
            if found is MISSING:
                return None
            self._every_record = asyncio.get_running_loop().create_future()
            self._every_record.set_result(cast(TrainingRecords, found))
        if not self._every_record.done() or self._every_record.exception() is not None:
            return None
        every = self._every_record.result()
        if self.access is None:
            return every.by_person
        seen = self.access.known_visibility()
        return None if seen is None else self._visible_of(every, seen).by_person

    def _sees_now(self, source: Source, native_id: str) -> bool:
        if self.access is None:
            return True
        seen = self.access.known_visibility()
        return seen is not None and seen.sees(source, native_id)

    @cached_property
    def lesson_details(self) -> DataLoader[Any, Any]:
        """DAMSTRA lessons as `GET /lessondetails` answers them (the questionnaire data): asked only by
        the fields that need it, one request per batch of up to 500."""
        return DataLoader(self._lesson_details, max_batch_size=LESSON_BATCH)

    @cached_property
    def group(self) -> DataLoader[Any, Any]:
        batch: Batch = self._groups
        if self.access is not None:
            batch = self.access.groups(batch)
        return DataLoader(batch)

    @cached_property
    def user_schedules(self) -> DataLoader[Any, Any]:
        """A DAMSTRA user's schedules: key `user_id` (every status) or `(user_id, status)`, status being
        DAMSTRA's own `status=` word."""
        batch: Batch = self._user_schedules
        if self.access is not None:
            batch = self.access.keyed(batch, Source.DAMSTRA, lambda key: _user_schedules_key(key)[0])
        return DataLoader(batch, get_cache_key=_user_schedules_key)

    @cached_property
    def schedule(self) -> DataLoader[Any, Any]:
        batch: Batch = self._schedules
        if self.access is not None:
            batch = self.access.owned(batch, _damstra_schedule_owner)
        return DataLoader(batch)

    @cached_property
    def ilt_session(self) -> DataLoader[Any, Any]:
        return DataLoader(self._ilt_sessions)

    @cached_property
    def attendees(self) -> DataLoader[Any, Any]:
        batch: Batch = self._attendees
        if self.access is not None:
            batch = self.access.attendees(batch)
        return DataLoader(batch)

    @cached_property
    def train_sessions_by_username(self) -> DataLoader[Any, Any]:
        batch: Batch = self._train_sessions_by_username
        if self.access is not None:
            batch = self.access.by_username(batch)
        return DataLoader(batch)

    @cached_property
    def train_session(self) -> DataLoader[Any, Any]:
        batch: Batch = self._train_sessions
        if self.access is not None:
            batch = self.access.train_sessions(batch)
        return DataLoader(batch)

    @cached_property
    def training_record(self) -> DataLoader[Any, Any]:
        batch: Batch = self._training_records
        if self.access is not None:
            batch = self.access.owned(batch, _training_record_owner)
        return DataLoader(batch)

    @cached_property
    def iscout_completions_by_user(self) -> DataLoader[Any, Any]:
        batch: Batch = self._iscout_completions_by_user
        if self.access is not None:
            batch = self.access.keyed(batch, Source.ISCOUT)
        return DataLoader(batch)

    def _scope(self, source: Source) -> str:
        return self.upstreams.cache_scope(source)

    async def together(self, work: Awaitable[T]) -> T:
        """`work`'s answer, released in the same tick as that of every work handed in with it.

        Sibling resolvers (each member's schedules) finish at different times when their people
        read different sources; the look-ups their answers lead to (the lessons) then fall into
        several batches, one for each time. Released together, they make one batch.

        The works handed in before the loop turns make one group (as a DataLoader's keys do). Each
        runs in its caller's coroutine, no task of its own; the group is released when the last is
        done, failures with the answers. A cancelled caller leaves at once.
        """
        group = self._together
        if group is None:
            group = self._together = _Together(asyncio.get_running_loop().create_future())
            group.release.get_loop().call_soon(self._close_together, group)
        group.running += 1
        try:
            answer: T = await work
        except asyncio.CancelledError:
            group.leave()
            raise
        except Exception:
            group.leave()
            await group.released()
            raise
        group.leave()
        await group.released()
        return answer

    def _close_together(self, group: _Together) -> None:
        if self._together is group:
            self._together = None
        group.closed = True
        group.leave(0)

    async def _cached(
        self,
        kind: str,
        source: Source,
        keys: Sequence[K],
        fetch_missing: Callable[[list[K]], Awaitable[dict[K, V | BaseException]]],
    ) -> list[V | BaseException]:
        scope = self._scope(source)
        found: dict[K, Any] = {}
        missing: list[K] = []
        for key in keys:
            value = self.cache.get(kind, scope, key)
            if value is MISSING:
                missing.append(key)
            else:
                found[key] = value
        if missing:
            fetched = await fetch_missing(missing)
            for key, value in fetched.items():
                if not isinstance(value, BaseException):
                    self.cache.set(kind, scope, key, value)
                found[key] = value
        return [found.get(key, UpstreamNotFound(source.slug, f"{kind} {key} not found")) for key in keys]

    def prime_damstra_users(self, users: Sequence[DamstraUser]) -> None:
        """Users that arrived inside another listing (group members) need no fetch of their own."""
        scope = self._scope(Source.DAMSTRA)
        for user in users:
            key = str(user.id)
            self.damstra_user.prime(key, user)
            self.cache.set("user", scope, key, user)

    def invalidate_damstra_user(self, user_id: str) -> None:
        self.damstra_user.clear(user_id)
        self.cache.invalidate("user", self._scope(Source.DAMSTRA), user_id)

    def invalidate_every_damstra_user(self) -> None:
        self.cache.invalidate("user", self._scope(Source.DAMSTRA))

    async def group_inside(self, group_id: str) -> DamstraGroup | None:
        """A group met inside something the caller may see (a parent, a user's groups): None when
        they may not see it, where `group.load` (asked by ID) answers Forbidden."""
        try:
            found: DamstraGroup = await self.group.load(group_id)
        except Forbidden:
            return None
        return found

    def invalidate_damstra_group(self, group_id: str) -> None:
        self.group.clear(group_id)
        self.cache.invalidate("group", self._scope(Source.DAMSTRA), group_id)

    # -- DAMSTRA --------------------------------------------------------------------------------

    async def _damstra_users(self, keys: list[str]) -> list[DamstraUser | BaseException]:
        client = self.upstreams.need_damstra()

        async def fetch(missing: list[str]) -> dict[str, DamstraUser | BaseException]:
            # DAMSTRA fetches users one id per call; in flight together.
            return dict(zip(missing, await _each(missing, client.get_user), strict=True))

        return await self._cached("user", Source.DAMSTRA, keys, fetch)

    async def _damstra_users_by_email(self, emails: list[str]) -> list[DamstraUser | None | BaseException]:
        client = self.upstreams.need_damstra()

        async def find(email: str) -> DamstraUser | None:
            listing = await client.users(email=email, active_value="all").window(max_results=2)
            match = [u for u in listing.items if (u.email_address or "").lower() == email]
            return match[0] if match else None

        return await _each(emails, find)

    async def _damstra_users_by_employee_number(
        self, numbers: list[str]
    ) -> list[DamstraUser | None | BaseException]:
        client = self.upstreams.need_damstra()

        async def find(number: str) -> DamstraUser | None:
            listing = await client.users(emp_id=number, active_value="all").window(max_results=2)
            match = [u for u in listing.items if (u.employee_number or "") == number]
            return match[0] if match else None

        return await _each(numbers, find)

    async def _lessons(self, keys: list[str]) -> list[DamstraLesson | BaseException]:
        client = self.upstreams.need_damstra()

        async def fetch(missing: list[str]) -> dict[str, DamstraLesson | BaseException]:
            lessons = await client.get_lessons_by_id([int(k) for k in missing])
            by_id: dict[str, DamstraLesson | BaseException] = {
                str(lesson.lesson_id): lesson for lesson in lessons
            }
            return by_id

        try:
            return await self._cached("lesson", Source.DAMSTRA, keys, fetch)
        except Exception as exc:  # one failed batch fails each of its keys
            return [exc for _ in keys]

    async def _lesson_details(self, keys: list[str]) -> list[DamstraLesson | BaseException]:
        client = self.upstreams.need_damstra()

        async def fetch(
            missing: list[tuple[str, str]],
        ) -> dict[tuple[str, str], DamstraLesson | BaseException]:
            lessons = await client.get_lesson_details_by_id([int(k) for _, k in missing])
            return {("details", str(lesson.lesson_id)): lesson for lesson in lessons}

        try:
            # Kept beside the `GET /lesson` entries, under their own keys: the two answers differ.
            return await self._cached("lesson", Source.DAMSTRA, [("details", k) for k in keys], fetch)
        except Exception as exc:  # one failed batch fails each of its keys
            return [exc for _ in keys]

    async def _groups(self, keys: list[str]) -> list[DamstraGroup | BaseException]:
        client = self.upstreams.need_damstra()

        async def fetch(missing: list[str]) -> dict[str, DamstraGroup | BaseException]:
            return dict(zip(missing, await _each(missing, client.get_group), strict=True))

        return await self._cached("group", Source.DAMSTRA, keys, fetch)

    async def _user_schedules(
        self, keys: list[str | UserSchedulesKey]
    ) -> list[list[DamstraSchedule] | BaseException]:
        client = self.upstreams.need_damstra()
        asked = [_user_schedules_key(key) for key in keys]
        if self.cache.keeps("damstra_schedules"):
            # Kept across requests: each user's whole list, one entry, whatever status is asked (a list
            # for one status would miss what has moved into that status since it was read).
            scope = self._scope(Source.DAMSTRA)

            async def every(user_id: str) -> list[DamstraSchedule]:
                return await client.user_schedules(user_id, status="all").all()

            users = list(dict.fromkeys(user_id for user_id, _ in asked))
            lists = await self.cache.read_each_through("damstra_schedules", scope, users, every)
            found = {(u, "all"): found_list for u, found_list in zip(users, lists, strict=True)}
        else:
            whole = {user_id for user_id, status in asked if status == "all"}
            # A user whose every schedule is read anyway needs no read for one status.
            to_read = [key for key in dict.fromkeys(asked) if key[1] == "all" or key[0] not in whole]

            async def read(key: UserSchedulesKey) -> list[DamstraSchedule]:
                user_id, status = key
                return await client.user_schedules(user_id, status=status).all()

            found = dict(zip(to_read, await _each(to_read, read), strict=True))
        now = datetime.now(UTC)

        def answer(key: UserSchedulesKey) -> list[DamstraSchedule] | BaseException:
            if key in found:
                return found[key]
            every = found[(key[0], "all")]
            if isinstance(every, BaseException):
                return every
            return _in_status(every, key[1], now)

        return [answer(key) for key in asked]

    async def _schedules(self, keys: list[str]) -> list[DamstraSchedule | BaseException]:
        return await _each(keys, self.upstreams.need_damstra().get_lesson_schedule)

    async def _ilt_sessions(self, keys: list[str]) -> list[DamstraILTSession | BaseException]:
        return await _each(keys, self.upstreams.need_damstra().get_ilt_session)

    async def all_ilt_sessions(self) -> list[DamstraILTSession]:
        """Every ILT session, read once per request: the list filters by no lesson."""
        if self._all_ilt_sessions is None:
            client = self.upstreams.need_damstra()

            async def every() -> list[DamstraILTSession]:
                return await client.ilt_sessions().all()

            self._all_ilt_sessions = asyncio.ensure_future(every())
        return await asyncio.shield(self._all_ilt_sessions)

    async def _attendees(self, keys: list[str]) -> list[list[DamstraAttendee] | BaseException]:
        return await _each(keys, self.upstreams.need_damstra().list_attendees)

    # -- LEARNINGLOGIN ----------------------------------------------------------------------------

    async def _train_sessions_by_username(
        self, usernames: list[str]
    ) -> list[list[TrainSession] | BaseException]:
        client = self.upstreams.need_learninglogin()

        scope = self._scope(Source.LEARNINGLOGIN)

        async def every(username: str) -> list[TrainSession]:
            # A train session names no login id; the username filter is the only way to a person's.
            filters = TrainSessionFilters(assignee_login_username_eq=username)
            return [session async for session in client.train_sessions(filters).iterate()]

        return await self.cache.read_each_through("learninglogin_schedules", scope, usernames, every)

    async def _train_sessions(self, keys: list[str]) -> list[TrainSession | BaseException]:
        return await _each(keys, self.upstreams.need_learninglogin().get_train_session)

    # -- TRAINING_RECORDS -------------------------------------------------------------------------

    async def all_training_records(self) -> list[TrainingRecord]:
        """Every record the caller may see (shared: never change the list). The API filters by nothing
        but a name search, so the whole list is read, once per request at most and across requests
        through the cache (`EntityCache.invalidate_training_records` after a write)."""
        return (await self._visible_training_records()).records

    async def training_records_by_person(self) -> dict[str, list[TrainingRecord]]:
        return (await self._visible_training_records()).by_person

    async def training_packages(self) -> dict[str, str | None]:
        """The catalogue of packages (code: description) the records name, whoever holds them."""
        packages: dict[str, str | None] = {}
        for record in (await self._every_training_record()).records:
            if record.package_api_id:
                packages.setdefault(record.package_api_id, record.package_desc)
        return packages

    async def _visible_training_records(self) -> TrainingRecords:
        every = await self._every_training_record()
        if self.access is None:
            return every
        return self._visible_of(every, await self.access.visibility())

    def _visible_of(self, every: TrainingRecords, seen: Visibility) -> TrainingRecords:
        if self._visible_records is None or self._visible_records[0] is not every:
            mine = {
                pid: records
                for pid, records in every.by_person.items()
                if seen.sees(Source.TRAINING_RECORDS, pid)
            }
            visible = TrainingRecords([r for records in mine.values() for r in records], mine)
            self._visible_records = (every, visible)
        return self._visible_records[1]

    def invalidate_training_records(self) -> None:
        """After a TRAINING_RECORDS write: this request and the next ones read the list afresh."""
        self._every_record = None
        self.cache.invalidate_training_records(self._scope(Source.TRAINING_RECORDS))

    async def _every_training_record(self) -> TrainingRecords:
        if self._every_record is None:
            client = self.upstreams.need_training_records()

            async def read() -> TrainingRecords:
                return TrainingRecords.of(await client.records().all())

            scope = self._scope(Source.TRAINING_RECORDS)
            self._every_record = asyncio.ensure_future(
                self.cache.read_through("training_records", scope, ALL, read)
            )
        return await asyncio.shield(self._every_record)

    async def _training_records(self, keys: list[str]) -> list[TrainingRecord | BaseException]:
        return await _each(keys, self.upstreams.need_training_records().get_record)

    # -- ISCOUT -----------------------------------------------------------------------------------

    async def _iscout_completions_by_user(
        self, keys: list[str]
    ) -> list[list[IScoutCompletion] | BaseException]:
        client = self.upstreams.need_iscout()

        async def every(user_id: str) -> list[IScoutCompletion]:
            return [completion async for completion in client.completions(user_id=user_id).iterate()]

        return await _each(keys, every)
