"""The one door every upstream write passes: mutations never hold a connector.

    writes = Writes(upstreams, caller, access)           # built with the request's context
    writes.admit("scheduleLessons")                      # Forbidden for a role that may not run it
    with writes.running("scheduleLessons"):
        await writes.check_target(Source.DAMSTRA, "10003")   # before reading anything about them
        ids = await writes.schedule_lessons(user_id, version_ids, schedule_date=when)

Each method is one upstream write, named for what it does to the training data rather than
for the vendor's endpoint. Writes are sent once and never retried (the HTTP layer retries
reads only). What a write touches, the caller's right to touch it, and what it costs are
decided here, in one place, for every mutation:

- ADMIN may make every write. A SUPERVISOR may schedule, complete and unassign training and
  register and deregister for ILT sessions, for the people they may see (`gateway.data.access`:
  themself and the members of their groups); a TRAINEE may register and deregister themself.
  Both may have a login link for themself only. Everything else is ADMIN's.
- A write the rules refuse raises `Forbidden` before anything is sent. The mutations check each
  target with `check_target` before they read anything about it, so a refusal tells nothing but
  FORBIDDEN (nor whether the person exists); the write itself checks every target again.
- Every write, sent or refused, is one structured event on the `learngraph.audit` logger: the
  caller's name and role, the mutation, the write, its targets and the outcome for each, and the
  request id when there is one. Never a credential, and never what a write answers (a login link).
- A write sent drops, here and on every replica, the cached schedule lists it may have changed (its
  targets' DAMSTRA lists, LEARNINGLOGIN lists and the TRAINING_RECORDS list; every DAMSTRA list for a
  write to an ILT session or a group, whose people it does not name), answered or not: an unknown
  outcome may still have happened.
- A caller who leaves (a closed connection) stops the mutation before its first write; once that
  was sent, the mutation's writes all go (and what it reads to decide them), so the upstream is never
  left half-written by a dropped connection. `running` marks where the mutation ends: after it,
  nothing more is read for a caller who left (`gateway.upstreams.allowance`).
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from gateway.data.cache import EntityCache
from gateway.data.callers import Caller, Role
from gateway.errors import CallerGone, Forbidden, UpstreamError
from gateway.sources import Source
from gateway.upstreams import allowance as allowances
from gateway.upstreams.damstra.records import (
    DamstraCreated,
    DamstraGroup,
    DamstraILTSession,
    DamstraILTSessionInput,
    DamstraUser,
    DamstraUserInput,
    ExpiresIn,
    GracePeriodUnit,
    MergeType,
)
from gateway.upstreams.registry import Upstreams
from gateway.upstreams.training_records.records import TrainingRecord

if TYPE_CHECKING:
    from gateway.data.access import Access
    from gateway.data.sync_hooks import IndexSync

audit = logging.getLogger("learngraph.audit")

T = TypeVar("T")
Target = tuple[Source, str]


@dataclass(frozen=True)
class Rule:
    """Who may make a write: from the `least` role up, for the people they may see (`own_only`:
    only for themself, whatever their role short of ADMIN); a TRAINEE only ever for themself."""

    least: Role
    own_only: bool = False


ADMIN_ONLY = Rule(Role.ADMIN)
FOR_THEIR_PEOPLE = Rule(Role.SUPERVISOR)
FOR_ATTENDEES = Rule(Role.TRAINEE)
FOR_ONESELF = Rule(Role.TRAINEE, own_only=True)

# The mutations a caller who is not ADMIN may run; every other one is ADMIN's alone.
MUTATION_RULES: dict[str, Rule] = {
    "scheduleLessons": FOR_THEIR_PEOPLE,
    "completeLesson": FOR_THEIR_PEOPLE,
    "unassignCourses": FOR_THEIR_PEOPLE,
    "registerForILTSession": FOR_ATTENDEES,
    "deregisterFromILTSession": FOR_ATTENDEES,
    "generateLoginUrl": FOR_ONESELF,
}

# The mutation the current task runs (set by `Writes.running`), for the rules and the audit trail.
_mutation: ContextVar[str | None] = ContextVar("learngraph_mutation", default=None)


def _label(target: Target) -> str:
    return f"{target[0].slug}:{target[1]}"


class GroupRole(enum.Enum):
    MEMBER = "member"
    SUPERVISOR = "supervisor"


class Writes:
    def __init__(
        self,
        upstreams: Upstreams,
        caller: Caller,
        access: Access | None = None,
        request: Any = None,
        cache: EntityCache | None = None,
        *,
        sync: IndexSync | None = None,
    ) -> None:
        self._upstreams = upstreams
        self._cache = cache
        self._sync = sync  # the training index, told of each write that succeeded
        self.caller = caller
        self._access = access  # None: ADMIN, who may make every write
        self._request = request
        self.sent = 0  # writes sent upstream by this request, answered or not

    # -- the rules ------------------------------------------------------------------------------

    def admit(self, mutation: str) -> None:
        """Forbidden (audited) unless the caller's role may run `mutation` at all."""
        if self.caller.role < MUTATION_RULES.get(mutation, ADMIN_ONLY).least:
            self._audit(mutation, "admit", {"*": Forbidden.code})
            raise Forbidden(f"{self.caller.role.name} callers may not run {mutation}")

    @contextlib.contextmanager
    def running(self, mutation: str) -> Iterator[None]:
        """The block of one mutation's work: its writes, once the first was sent, all go even if the
        caller leaves; after the block nothing more is read for a caller who left."""
        token = _mutation.set(mutation)
        try:
            yield
        finally:
            _mutation.reset(token)
            allowance = allowances.current()
            if allowance is not None:
                allowance.writes_done()

    async def check_target(self, source: Source, native_id: str) -> None:
        """Forbidden (audited) unless the running mutation may write for this account's person."""
        target = (source, native_id)
        if not await self._allowed(MUTATION_RULES.get(_mutation.get() or "", ADMIN_ONLY), [target]):
            self._audit(_mutation.get(), "check", {_label(target): Forbidden.code})
            raise Forbidden("not allowed for this caller: only for themself, or the people they supervise")

    async def _allowed(self, rule: Rule, people: Sequence[Target]) -> bool:
        if self._access is None:
            return True
        if self.caller.role < rule.least:
            return False
        if not people:
            return True
        seen = await self._access.visibility()
        own_only = rule.own_only or self.caller.role is Role.TRAINEE
        return all(seen.owns(*t) if own_only else seen.sees(*t) for t in people)

    async def _send(
        self,
        write: str,
        rule: Rule,
        call: Callable[[], Awaitable[T]],
        people: Sequence[Target] = (),
        objects: Sequence[str] = (),
        *,
        usernames: Sequence[str] = (),
        every_schedule: bool = False,
    ) -> T:
        """`call()`, once the rules of the write and of the running mutation allow it; audited."""
        mutation = _mutation.get()
        labels = [*map(_label, people), *objects]
        strictest = MUTATION_RULES.get(mutation or "", ADMIN_ONLY)
        if not (await self._allowed(rule, people) and await self._allowed(strictest, people)):
            self._audit(mutation, write, dict.fromkeys(labels or ["*"], Forbidden.code))
            raise Forbidden(f"not allowed for this caller: {mutation or write}")
        allowance = allowances.current()
        if allowance is not None:
            try:
                allowance.begin_write()
            except CallerGone:
                self._audit(mutation, write, dict.fromkeys(labels or ["*"], CallerGone.code))
                raise
        self.sent += 1
        try:
            answer = await call()
        except UpstreamError as exc:
            self._audit(mutation, write, dict.fromkeys(labels or ["*"], exc.code))
            raise
        except BaseException:
            self._audit(mutation, write, dict.fromkeys(labels or ["*"], "ERROR"))
            raise
        finally:
            self._drop_schedules(people, usernames, every_schedule)
        self._audit(mutation, write, dict.fromkeys(labels or ["*"], "OK"))
        if self._sync is not None:
            # Before the mutation answers: what it changed is in the index for the next read.
            await self._sync.written(write, people, objects, answer)
        return answer

    def _drop_schedules(self, people: Sequence[Target], usernames: Sequence[str], every: bool) -> None:
        """The cached schedule lists a write sent may have changed (`gateway.data.cache`)."""
        if self._cache is None:
            return
        sources = {source for source, _ in people}
        if every or Source.DAMSTRA in sources:
            scope = self._upstreams.cache_scope(Source.DAMSTRA)
            if every:
                self._cache.invalidate("damstra_schedules", scope)
            for source, native_id in people:
                if source is Source.DAMSTRA:
                    self._cache.invalidate("damstra_schedules", scope, native_id)
        if Source.LEARNINGLOGIN in sources:
            # Its lists are kept by username; a write that names only the login drops every one.
            scope = self._upstreams.cache_scope(Source.LEARNINGLOGIN)
            named: Sequence[str | None] = usernames or [None]
            for username in named:
                self._cache.invalidate("learninglogin_schedules", scope, username)
        if Source.TRAINING_RECORDS in sources:
            self._cache.invalidate_training_records(self._upstreams.cache_scope(Source.TRAINING_RECORDS))

    def _audit(self, mutation: str | None, write: str, outcomes: dict[str, str]) -> None:
        if not audit.isEnabledFor(logging.INFO):
            return
        event: dict[str, Any] = {
            "caller": self.caller.name,
            "role": self.caller.role.name,
            "mutation": mutation,
            "write": write,
            "targets": list(outcomes),
            "outcome": outcomes,
        }
        request_id = self._request_id()
        if request_id:
            event["requestId"] = request_id
        audit.info(orjson.dumps(event).decode(), extra={"audit": event})

    def _request_id(self) -> str | None:
        headers = getattr(self._request, "headers", None)
        value = headers.get("x-request-id") if headers is not None else None
        return str(value)[:200] if value else None

    # -- DAMSTRA users --------------------------------------------------------------------------

    async def create_user(self, fields: DamstraUserInput) -> DamstraCreated:
        client = self._upstreams.need_damstra()
        return await self._send(
            "create_user", ADMIN_ONLY, lambda: client.create_user(fields), objects=["user:new"]
        )

    async def update_user(self, user_id: str, fields: DamstraUserInput) -> None:
        client = self._upstreams.need_damstra()
        await self._send(
            "update_user",
            ADMIN_ONLY,
            lambda: client.update_user(user_id, fields),
            [(Source.DAMSTRA, user_id)],
        )

    async def set_user_active(self, user_id: str, active: bool) -> None:
        client = self._upstreams.need_damstra()
        send = client.activate_user if active else client.inactivate_user
        write = "activate_user" if active else "inactivate_user"
        await self._send(write, ADMIN_ONLY, lambda: send(user_id), [(Source.DAMSTRA, user_id)])

    async def import_users(
        self, users: Sequence[DamstraUserInput], merge_type: MergeType
    ) -> list[DamstraUser]:
        client = self._upstreams.need_damstra()
        return await self._send(
            "import_users",
            ADMIN_ONLY,
            lambda: client.bulk_import_users(users, merge_type),
            objects=[f"users:{len(users)} rows"],
        )

    async def login_url(self, user_id: str, expires_in: ExpiresIn) -> str:
        client = self._upstreams.need_damstra()
        return await self._send(
            "login_url",
            FOR_ONESELF,
            lambda: client.generate_login_url(user_id, expires_in),
            [(Source.DAMSTRA, user_id)],
        )

    # -- DAMSTRA groups -------------------------------------------------------------------------

    async def create_group(
        self, name: str, *, description: str | None, parent_id: int | None
    ) -> DamstraGroup:
        client = self._upstreams.need_damstra()
        return await self._send(
            "create_group",
            ADMIN_ONLY,
            lambda: client.create_group(name, description=description, parent_id=parent_id),
            objects=["group:new"],
        )

    async def update_group(
        self, group_id: int, name: str, *, description: str | None, parent_id: int | None
    ) -> None:
        client = self._upstreams.need_damstra()
        await self._send(
            "update_group",
            ADMIN_ONLY,
            lambda: client.update_group(group_id, name, description=description, parent_id=parent_id),
            objects=[f"group:{group_id}"],
        )

    async def inactivate_group(self, group_id: int) -> None:
        client = self._upstreams.need_damstra()
        await self._send(
            "inactivate_group",
            ADMIN_ONLY,
            lambda: client.inactivate_group(group_id),
            objects=[f"group:{group_id}"],
            every_schedule=True,
        )

    async def change_group_users(
        self, group_id: int, user_ids: Sequence[int], *, role: GroupRole, add: bool
    ) -> None:
        client = self._upstreams.need_damstra()
        if role is GroupRole.MEMBER:
            send = client.add_group_members if add else client.remove_group_members
        else:
            send = client.add_group_supervisors if add else client.remove_group_supervisors
        write = f"{'add' if add else 'remove'}_group_{role.value}s"
        people = [(Source.DAMSTRA, str(user_id)) for user_id in user_ids]
        await self._send(write, ADMIN_ONLY, lambda: send(group_id, user_ids), people, [f"group:{group_id}"])

    # -- schedules and completions --------------------------------------------------------------

    async def schedule_lessons(
        self,
        user_id: str,
        lesson_version_ids: Sequence[int],
        *,
        schedule_date: datetime | None,
        grace_period: int | None,
        grace_period_unit: GracePeriodUnit | None,
    ) -> list[int]:
        """DAMSTRA: answers the new lesson schedule ids."""
        client = self._upstreams.need_damstra()
        return await self._send(
            "schedule_lessons",
            FOR_THEIR_PEOPLE,
            lambda: client.schedule_user(
                user_id,
                lesson_version_ids,
                schedule_date=schedule_date,
                grace_period=grace_period,
                grace_period_unit=grace_period_unit,
            ),
            [(Source.DAMSTRA, user_id)],
            [f"lessonVersion:{v}" for v in lesson_version_ids],
        )

    async def complete_lesson(
        self,
        user_id: str,
        *,
        lesson_id: int,
        lesson_version_id: int | None,
        completed_at: datetime | None,
        completed_by: int | None,
    ) -> list[int]:
        """DAMSTRA: answers the completed lesson schedule ids."""
        client = self._upstreams.need_damstra()
        people = [(Source.DAMSTRA, user_id)]
        if completed_by is not None:
            people.append((Source.DAMSTRA, str(completed_by)))
        return await self._send(
            "complete_lesson",
            FOR_THEIR_PEOPLE,
            lambda: client.complete_lesson(
                user_id,
                lesson_id=lesson_id,
                lesson_version_id=lesson_version_id,
                completed_date=completed_at,
                completed_by_user_id=completed_by,
            ),
            people,
            [f"lesson:{lesson_id}"],
        )

    async def assign_package(
        self, person_api_id: str, package_api_id: str, *, started_at: datetime | None = None
    ) -> TrainingRecord:
        """TRAINING_RECORDS: a new open record of the package for the person (started, if given)."""
        client = self._upstreams.need_training_records()
        return await self._send(
            "assign_package",
            FOR_THEIR_PEOPLE,
            lambda: client.create_record(
                person_api_id=person_api_id, package_api_id=package_api_id, date_started=started_at
            ),
            [(Source.TRAINING_RECORDS, person_api_id)],
            [f"package:{package_api_id}"],
        )

    async def record_completion(
        self, person_api_id: str, package_api_id: str, completed_at: datetime, started_at: datetime | None
    ) -> TrainingRecord:
        """TRAINING_RECORDS: a new record of the package, completed: one `POST` with the dates."""
        client = self._upstreams.need_training_records()
        return await self._send(
            "record_completion",
            FOR_THEIR_PEOPLE,
            lambda: client.create_record(
                person_api_id=person_api_id,
                package_api_id=package_api_id,
                date_started=started_at,
                date_completed=completed_at,
            ),
            [(Source.TRAINING_RECORDS, person_api_id)],
            [f"package:{package_api_id}"],
        )

    async def complete_record(
        self,
        person_api_id: str,
        package_api_id: str,
        record: TrainingRecord,
        completed_at: datetime,
        started_at: datetime | None,
    ) -> TrainingRecord:
        """TRAINING_RECORDS: the person's open `record` of the package, completed: replaced whole (`PUT`)."""
        client = self._upstreams.need_training_records()
        return await self._send(
            "complete_record",
            FOR_THEIR_PEOPLE,
            lambda: client.replace_record(
                record.api_id,
                person_api_id=person_api_id,
                package_api_id=package_api_id,
                date_started=started_at if started_at is not None else record.date_started,
                date_completed=completed_at,
            ),
            [(Source.TRAINING_RECORDS, person_api_id)],
            [f"record:{record.api_id}"],
        )

    async def delete_record(self, person_api_id: str, api_id: str) -> None:
        """TRAINING_RECORDS: the person's record `api_id`, deleted."""
        client = self._upstreams.need_training_records()
        await self._send(
            "delete_record",
            FOR_THEIR_PEOPLE,
            lambda: client.delete_record(api_id),
            [(Source.TRAINING_RECORDS, person_api_id)],
            [f"record:{api_id}"],
        )

    async def unassign_courses(
        self, login_id: int | str, course_codes: Sequence[str], *, username: str | None = None
    ) -> None:
        """LEARNINGLOGIN: removes the login's sessions of these courses."""
        client = self._upstreams.need_learninglogin()
        await self._send(
            "unassign_courses",
            FOR_THEIR_PEOPLE,
            lambda: client.unassign_courses(login_id, course_codes),
            [(Source.LEARNINGLOGIN, str(login_id))],
            [f"course:{code}" for code in course_codes],
            usernames=[username] if username else (),
        )

    async def unassign_train_sessions(
        self, login_id: int | str, session_ids: Sequence[int | str], *, username: str | None = None
    ) -> None:
        """LEARNINGLOGIN: removes these train sessions, the login's (as the caller has checked)."""
        client = self._upstreams.need_learninglogin()
        await self._send(
            "unassign_train_sessions",
            FOR_THEIR_PEOPLE,
            lambda: client.unassign_train_sessions(session_ids),
            [(Source.LEARNINGLOGIN, str(login_id))],
            [f"trainSession:{i}" for i in session_ids],
            usernames=[username] if username else (),
        )

    # -- DAMSTRA ILT sessions -------------------------------------------------------------------

    async def create_ilt_session(self, fields: DamstraILTSessionInput) -> DamstraILTSession:
        client = self._upstreams.need_damstra()
        return await self._send(
            "create_ilt_session",
            ADMIN_ONLY,
            lambda: client.create_ilt_session(fields),
            objects=[f"lesson:{fields.lesson_id}"],
        )

    async def update_ilt_session(self, session_id: int, fields: DamstraILTSessionInput) -> DamstraILTSession:
        client = self._upstreams.need_damstra()
        return await self._send(
            "update_ilt_session",
            ADMIN_ONLY,
            lambda: client.update_ilt_session(session_id, fields),
            objects=[f"iltSession:{session_id}"],
            every_schedule=True,
        )

    async def complete_ilt_session(self, session_id: int) -> None:
        client = self._upstreams.need_damstra()
        await self._send(
            "complete_ilt_session",
            ADMIN_ONLY,
            lambda: client.complete_ilt_session(session_id),
            objects=[f"iltSession:{session_id}"],
            every_schedule=True,
        )

    async def cancel_ilt_session(
        self, session_id: int, *, notify_trainees: bool, notify_instructor: bool
    ) -> None:
        client = self._upstreams.need_damstra()
        await self._send(
            "cancel_ilt_session",
            ADMIN_ONLY,
            lambda: client.cancel_ilt_session(
                session_id, notify_trainees=notify_trainees, notify_instructor=notify_instructor
            ),
            objects=[f"iltSession:{session_id}"],
            every_schedule=True,
        )

    async def register(self, session_id: int, user_ids: Sequence[int]) -> None:
        client = self._upstreams.need_damstra()
        people = [(Source.DAMSTRA, str(user_id)) for user_id in user_ids]
        await self._send(
            "register",
            FOR_ATTENDEES,
            lambda: client.bulk_register(session_id, user_ids),
            people,
            [f"iltSession:{session_id}"],
        )

    async def deregister(self, session_id: int, user_ids: Sequence[int]) -> None:
        client = self._upstreams.need_damstra()
        people = [(Source.DAMSTRA, str(user_id)) for user_id in user_ids]
        await self._send(
            "deregister",
            FOR_ATTENDEES,
            lambda: client.bulk_deregister(session_id, user_ids),
            people,
            [f"iltSession:{session_id}"],
        )

    async def save_attendance(
        self, session_id: int, attendees: Sequence[tuple[int, bool | None, bool | None]]
    ) -> None:
        """`attendees`: (attendee id, passed, attended); None leaves that flag as it is."""
        client = self._upstreams.need_damstra()
        await self._send(
            "save_attendance",
            ADMIN_ONLY,
            lambda: client.save_attendance(session_id, attendees),
            objects=[f"iltSession:{session_id}", *(f"attendee:{a[0]}" for a in attendees)],
            every_schedule=True,
        )
