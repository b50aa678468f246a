"""`User`: a person, with every account linked to them across the sources."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry

from gateway.data.people import Account, Person
from gateway.errors import UpstreamError
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraSchedule
from gateway.upstreams.learninglogin.records import TrainSession, TrainSessionFilters
from gateway.upstreams.training_records.records import TrainingRecord
from resolvers import relay
from resolvers.enums import DAMSTRA_ROLES, Role, ScheduleStatus
from resolvers.global_id import encode
from resolvers.info import Info, or_reported, path_of
from resolvers.node import Node
from resolvers.scalars import Date, DateTime
from resolvers.schedule import Schedule, damstra_filter, learninglogin_status, sources_for
from resolvers.schedule_filter import ScheduleFilter

if TYPE_CHECKING:
    from gateway.data.identity import IdentityDirectory
    from gateway.data.people import People
    from gateway.upstreams.damstra.records import DamstraUser
    from resolvers.completion import Completion
    from resolvers.group import Group


@strawberry.type
class UserAccount:
    source: Source
    native_id: str
    username: str | None
    email: str | None


# A supergraph may join its own people to LearnGraph's by either key (resolvers/schema.py).
@strawberry.federation.type(keys=["id", "email"])
class User(Node):
    id: strawberry.ID
    first_name: str | None
    last_name: str | None
    username: str | None
    email: str | None
    employee_number: str | None
    active: bool | None
    roles: list[Role]
    time_zone: str | None
    phone: str | None = strawberry.field(description="DAMSTRA's `phoneNumber`.")
    mobile: str | None = strawberry.field(description="DAMSTRA's `mobileNumber`.")
    last_logged_in_at: DateTime | None = strawberry.field(
        description="When the person last logged in to DAMSTRA (`lastLoggedInDate`)."
    )
    created_at: DateTime | None = strawberry.field(
        description="When the DAMSTRA account was created (`createdDate`)."
    )
    accounts: list[UserAccount]
    person: strawberry.Private[Person]

    @classmethod
    async def resolve_reference(
        cls, info: Info, id: strawberry.ID | None = None, email: str | None = None
    ) -> User | None:
        """A supergraph's `_entities` look-up, as `user(id:)` or `users(email:)` would find them."""
        from resolvers.lookup import find_typed
        from resolvers.query import find_user_by_email

        if id is not None:
            return cast(User, await find_typed(info, id, "User"))
        return await find_user_by_email(info, email) if email else None

    @classmethod
    def from_person(cls, person: Person) -> User:
        primary = person.primary
        damstra = person.damstra
        usernames = person.learninglogin_usernames()
        return cls(
            id=strawberry.ID(encode("User", primary.source, primary.native_id)),
            first_name=damstra.first_name if damstra else None,
            last_name=damstra.last_name if damstra else None,
            username=(damstra.user_name if damstra else None) or (usernames[0] if usernames else None),
            email=person.email,
            employee_number=person.employee_number,
            active=damstra.is_active if damstra else None,
            roles=[DAMSTRA_ROLES[r] for r in (damstra.roles if damstra else []) if r in DAMSTRA_ROLES],
            time_zone=damstra.time_zone if damstra else None,
            phone=damstra.phone_number if damstra else None,
            mobile=damstra.mobile_number if damstra else None,
            last_logged_in_at=damstra.last_logged_in_date if damstra else None,
            created_at=damstra.created_date if damstra else None,
            accounts=[
                UserAccount(
                    source=a.source,
                    native_id=a.native_id,
                    username=a.username,
                    email=a.email if a.source is Source.DAMSTRA else None,
                )
                for a in person.accounts
            ],
            person=person,
        )

    @strawberry.field
    def full_name(self, info: Info) -> str:
        # Not `async`: a name at hand (every DAMSTRA user's) is answered in place, so a member of a
        # group completes with one awaitable field at most (its schedules), and no task per member.
        # One to look up is an awaitable, which graphql-core awaits as an async resolver's answer.
        names = [n for n in (self.first_name, self.last_name) if n]
        if names:
            return " ".join(names)
        return cast(str, self._looked_up_name(info))

    async def _looked_up_name(self, info: Info) -> str:
        for username in self.person.learninglogin_usernames():
            # LearningLogin names people only on their train sessions.
            sessions = await or_reported(
                info, info.context.loaders.train_sessions_by_username.load(username), []
            )
            named = [s.full_name for s in sessions if s.full_name]
            if named:
                return str(named[0])
        primary = self.person.primary
        return self.username or self.email or f"{primary.source.name} user {primary.native_id}"

    @strawberry.field
    async def groups(self, info: Info) -> list[Annotated[Group, strawberry.lazy("resolvers.group")]]:
        ids = self.person.damstra.group_ids if self.person.damstra else []
        return await _groups(info, ids)

    @strawberry.field
    async def supervised_groups(
        self, info: Info
    ) -> list[Annotated[Group, strawberry.lazy("resolvers.group")]]:
        ids = self.person.damstra.supervised_group_ids if self.person.damstra else []
        return await _groups(info, ids)

    @strawberry.field(
        description="Schedules from every linked account: DAMSTRA, LEARNINGLOGIN and TRAINING_RECORDS."
    )
    def schedules(
        self,
        info: Info,
        status: list[ScheduleStatus] | None = None,
        source: Source | None = None,
        due_on: Annotated[Date | None, strawberry.argument(description="Due that day.")] = None,
        progress_percent: Annotated[
            float | None, strawberry.argument(description="Exactly this far through (0-100).")
        ] = None,
        score: Annotated[float | None, strawberry.argument(description="With exactly this score.")] = None,
        failed_attempts: Annotated[
            int | None, strawberry.argument(description="With this many failed attempts at the final quiz.")
        ] = None,
        last_attempt_on: Annotated[
            Date | None,
            strawberry.argument(description="Last attempted that day (LEARNINGLOGIN alone records it)."),
        ] = None,
        completed_after: Annotated[
            Date | None, strawberry.argument(description="Completed on or after.")
        ] = None,
        completed_before: Annotated[
            Date | None, strawberry.argument(description="Completed on or before.")
        ] = None,
        certificate_expiring_after: Annotated[
            Date | None, strawberry.argument(description="certificateExpiresOn strictly after.")
        ] = None,
        certificate_expiring_before: Annotated[
            Date | None, strawberry.argument(description="certificateExpiresOn strictly before.")
        ] = None,
        first: int | None = None,
        after: str | None = None,
    ) -> relay.Connection[Schedule]:
        relay.page_size(first)
        wanted = set(status or ())
        narrowing = ScheduleFilter(
            due_on=due_on,
            progress_percent=progress_percent,
            score=score,
            failed_attempts=failed_attempts,
            last_attempt_on=last_attempt_on,
            completed_after=completed_after,
            completed_before=completed_before,
            certificate_expiring_after=certificate_expiring_after,
            certificate_expiring_before=certificate_expiring_before,
        )
        narrowed = None if narrowing.is_empty() else narrowing
        # Not `async`: with every list at hand (a warm dashboard's members) the page is answered in
        # place, and the member completes without a coroutine, a future or a task. Else an awaitable,
        # which graphql-core awaits as it does an async resolver's answer.
        known = known_schedules_of(info, self.person, source, wanted, narrowed)
        if known is not None:
            return _schedule_page(known, wanted, narrowed, first, after)
        return cast(
            "relay.Connection[Schedule]",
            _read_schedule_page(info, self.person, source, wanted, narrowed, first, after),
        )

    @strawberry.field(description="Completions from every linked account, newest first.")
    async def completions(
        self,
        info: Info,
        source: Source | None = None,
        completed_after: Date | None = None,
        completed_before: Date | None = None,
        expiring_before: Annotated[
            Date | None, strawberry.argument(description="expiresOn strictly before.")
        ] = None,
        expiring_after: Annotated[
            Date | None, strawberry.argument(description="expiresOn strictly after.")
        ] = None,
        score: Annotated[float | None, strawberry.argument(description="With exactly this score.")] = None,
        first: int | None = None,
        after: str | None = None,
    ) -> relay.Connection[Annotated[Completion, strawberry.lazy("resolvers.completion")]]:
        from gateway.data.completions import CompletionFilter
        from resolvers.completion import completions_connection

        flt = CompletionFilter(
            completed_after=completed_after,
            completed_before=completed_before,
            expiring_before=expiring_before,
            expiring_after=expiring_after,
            score=score,
        )
        return await completions_connection(info, self.person, flt, source, first, after)


# By DAMSTRA user record: the User made of it, with the directory it was linked through. A cached
# member page hands back the same records on every read; a User (and its Person) is never changed
# once made, so a dashboard's hundred members are made once, not on every request.
_members_made: dict[int, tuple[DamstraUser, IdentityDirectory, User]] = {}
_MEMBERS_KEPT = 8192


def user_of_member(people: People, record: DamstraUser) -> User:
    """`User.from_person(people.from_damstra(record))`, made once per record and identity directory."""
    made = _members_made.get(id(record))
    if made is not None and made[0] is record and made[1] is people.directory:
        return made[2]
    user = User.from_person(people.from_damstra(record))
    if len(_members_made) >= _MEMBERS_KEPT:
        _members_made.clear()
    _members_made[id(record)] = (record, people.directory, user)
    return user


async def _groups(info: Info, ids: list[int]) -> list[Group]:
    from resolvers.group import Group

    results = await asyncio.gather(
        *(info.context.loaders.group_inside(str(i)) for i in ids), return_exceptions=True
    )
    groups = []
    for result in results:
        if isinstance(result, BaseException):
            if isinstance(result, Exception):
                info.context.report(result, [*info.path.as_list()])
            continue
        if result is not None:  # None: a group the caller may not see
            groups.append(Group.from_damstra(result))
    return groups


def _schedule_page(
    schedules: list[Schedule],
    wanted: set[ScheduleStatus],
    narrowed: ScheduleFilter | None,
    first: int | None,
    after: str | None,
) -> relay.Connection[Schedule]:
    if wanted:
        schedules = [s for s in schedules if s.status in wanted]
    if narrowed is not None:
        schedules = [s for s in schedules if narrowed.accepts(s)]
    return relay.from_list(schedules, first, after)


async def _read_schedule_page(
    info: Info,
    person: Person,
    source: Source | None,
    wanted: set[ScheduleStatus],
    narrowed: ScheduleFilter | None,
    first: int | None,
    after: str | None,
) -> relay.Connection[Schedule]:
    # Released with the schedules of this person's siblings (a group's members): their lessons
    # are then looked up in one batch, whichever sources each person reads.
    schedules = await info.context.loaders.together(schedules_of(info, person, source, wanted, narrowed))
    return _schedule_page(schedules, wanted, narrowed, first, after)


def _sources_read(
    info: Info, person: Person, source: Source | None, statuses: Collection[ScheduleStatus]
) -> list[Source]:
    """The sources whose lists hold the person's schedules asked for: those that can hold one in
    `statuses`, enabled, and where the person has an account (each read is by account)."""
    candidates = _candidate_sources(source, frozenset(statuses), tuple(info.context.listings.enabled()))
    return [s for s in candidates if any(account.source is s for account in person.accounts)]


@functools.lru_cache(maxsize=1024)
def _candidate_sources(
    source: Source | None, statuses: frozenset[ScheduleStatus], enabled: tuple[Source, ...]
) -> tuple[Source, ...]:
    # Worked out once for a list's hundred members (and every later list asking the same).
    possible = sources_for(statuses)
    return tuple(
        s
        for s in Source
        if (source is None or s is source) and s in possible and s in _SCHEDULE_SOURCES and s in enabled
    )


_SCHEDULE_SOURCES = frozenset({Source.DAMSTRA, Source.LEARNINGLOGIN, Source.TRAINING_RECORDS})


def known_schedules_of(
    info: Info,
    person: Person,
    source: Source | None,
    statuses: Collection[ScheduleStatus] = (),
    narrowing: ScheduleFilter | None = None,
) -> list[Schedule] | None:
    """`schedules_of`'s answer when every list it reads is at hand (`Loaders.known_*`: the cross-request
    cache, the caller's visible set known), in the same order; None when any must be read."""
    loaders = info.context.loaders
    now = datetime.now(UTC)
    out: list[Schedule] = []
    for read in _sources_read(info, person, source, statuses):
        if read is Source.DAMSTRA:
            status = damstra_filter(statuses)
            lists = [loaders.known_user_schedules(i, status) for i in person.ids(Source.DAMSTRA)]
            if None in lists:
                return None
            out += _from_damstra_lists(cast("list[list[DamstraSchedule]]", lists), now=now)
        elif read is Source.LEARNINGLOGIN:
            if narrowing is not None:
                return None  # asked with the search filters: a read
            accounts = _learninglogin_accounts(person)
            sessions = [loaders.known_train_sessions(str(a.username)) for a in accounts]
            if None in sessions:
                return None
            out += _from_session_lists(
                accounts, statuses, now.date(), cast("list[list[TrainSession]]", sessions)
            )
        else:
            by_person = loaders.known_training_records_by_person()
            if by_person is None:
                return None
            out += _from_records_by_person(person.ids(Source.TRAINING_RECORDS), [by_person])
    return out


async def schedules_of(
    info: Info,
    person: Person,
    source: Source | None,
    statuses: Collection[ScheduleStatus] = (),
    narrowing: ScheduleFilter | None = None,
) -> list[Schedule]:
    """A person's schedules, source by source; a failing source is reported, the rest stand.

    With `statuses`, the answer holds at least every schedule in one of them (the caller filters):
    a source that never answers any of them is not read, and DAMSTRA is asked for those alone.
    With `narrowing`, LEARNINGLOGIN is asked with its search filters (the caller checks every source).
    """
    loaders = info.context.loaders
    now = datetime.now(UTC)
    # Every read starts before any is awaited, so the loaders' keys join this tick's batches; the
    # person's reads are then waited on as futures, no task each (a dashboard's hundred members).
    started: list[tuple[list[asyncio.Future[Any]], Callable[[list[Any]], list[Schedule]]]] = []
    for read in _sources_read(info, person, source, statuses):
        if read is Source.DAMSTRA:
            status = damstra_filter(statuses)
            loads = [loaders.user_schedules.load((i, status)) for i in person.ids(Source.DAMSTRA)]
            started.append((loads, functools.partial(_from_damstra_lists, now=now)))
        elif read is Source.LEARNINGLOGIN:
            accounts = _learninglogin_accounts(person)
            if narrowing is None:
                loads = [loaders.train_sessions_by_username.load(a.username) for a in accounts]
            else:  # asked with the search filters: a listing of its own for each account
                loads = [asyncio.ensure_future(_searched(info, narrowing, str(a.username))) for a in accounts]
            started.append((loads, functools.partial(_from_session_lists, accounts, statuses, now.date())))
        else:
            loads = [asyncio.ensure_future(loaders.training_records_by_person())]
            ids = person.ids(Source.TRAINING_RECORDS)
            started.append((loads, functools.partial(_from_records_by_person, ids)))
    out: list[Schedule] = []
    for index, (loads, converted) in enumerate(started):
        try:
            found = [await load for load in loads] if len(loads) == 1 else await _every_one(loads)
        except UpstreamError as exc:  # this source's failure: reported, the others stand
            info.context.report(exc, path_of(info))
            continue
        except BaseException:
            for later, _ in started[index + 1 :]:
                _settle_quietly(later)
            raise
        out += converted(found)
    return out


async def _every_one(loads: list[asyncio.Future[Any]]) -> list[Any]:
    """Each load's answer; the first failure raised once every one has ended."""
    found = await asyncio.gather(*loads, return_exceptions=True)
    for answer in found:
        if isinstance(answer, BaseException):
            raise answer
    return found


def _settle_quietly(loads: list[asyncio.Future[Any]]) -> None:
    # Left unawaited (an earlier read raised): their failures are not "never retrieved" noise, and a
    # listing of our own stops. A loader's future is left alone: other readers share it.
    for load in loads:
        if isinstance(load, asyncio.Task):
            load.cancel()
        load.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _searched(info: Info, narrowing: ScheduleFilter, username: str) -> list[TrainSession]:
    filters = TrainSessionFilters(**narrowing.train_session_params(username))
    return [s async for s in info.context.listings.train_sessions(filters)]


def _from_damstra_lists(lists: list[list[DamstraSchedule]], *, now: datetime) -> list[Schedule]:
    return [Schedule.from_damstra(s, now) for found in lists for s in found]


def _learninglogin_accounts(person: Person) -> list[Account]:
    """The person's LearningLogin accounts with a username: a train session is found by username only."""
    return [a for a in person.accounts if a.source is Source.LEARNINGLOGIN and a.username]


def _from_session_lists(
    accounts: list[Account],
    statuses: Collection[ScheduleStatus],
    today: date,
    lists: list[list[TrainSession]],
) -> list[Schedule]:
    out: list[Schedule] = []
    for account, sessions in zip(accounts, lists, strict=True):
        if statuses:  # only what can be answered: most of a person's sessions are not asked for
            sessions = [s for s in sessions if learninglogin_status(s, today) in statuses]
        ref = (Source.LEARNINGLOGIN, account.native_id)
        out += [Schedule.from_learninglogin(s, ref, today) for s in sessions]
    return out


def _from_records_by_person(ids: list[str], found: list[dict[str, list[TrainingRecord]]]) -> list[Schedule]:
    by_person = found[0]
    return [Schedule.from_training_record(r) for i in ids for r in by_person.get(i, [])]
