"""The one door every upstream write passes: mutations never hold a connector.

    writes = Writes(upstreams)                       # built with the request's context
    ids = await writes.schedule_lessons(user_id, version_ids, schedule_date=when)

Each method is one upstream write, named for what it does to the training data rather than
for the vendor's endpoint. Writes are sent once and never retried (the HTTP layer retries
reads only). What a write touches, the caller's right to touch it, and what it costs are
decided here, in one place, for every mutation.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

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


class GroupRole(enum.Enum):
    MEMBER = "member"
    SUPERVISOR = "supervisor"


class Writes:
    def __init__(self, upstreams: Upstreams) -> None:
        self._upstreams = upstreams

    # -- DAMSTRA users --------------------------------------------------------------------------

    async def create_user(self, fields: DamstraUserInput) -> DamstraCreated:
        return await self._upstreams.need_damstra().create_user(fields)

    async def update_user(self, user_id: str, fields: DamstraUserInput) -> None:
        await self._upstreams.need_damstra().update_user(user_id, fields)

    async def set_user_active(self, user_id: str, active: bool) -> None:
        client = self._upstreams.need_damstra()
        await (client.activate_user(user_id) if active else client.inactivate_user(user_id))

    async def import_users(
        self, users: Sequence[DamstraUserInput], merge_type: MergeType
    ) -> list[DamstraUser]:
        return await self._upstreams.need_damstra().bulk_import_users(users, merge_type)

    async def login_url(self, user_id: str, expires_in: ExpiresIn) -> str:
        return await self._upstreams.need_damstra().generate_login_url(user_id, expires_in)

    # -- DAMSTRA groups -------------------------------------------------------------------------

    async def create_group(
        self, name: str, *, description: str | None, parent_id: int | None
    ) -> DamstraGroup:
        client = self._upstreams.need_damstra()
        return await client.create_group(name, description=description, parent_id=parent_id)

    async def update_group(
        self, group_id: int, name: str, *, description: str | None, parent_id: int | None
    ) -> None:
        client = self._upstreams.need_damstra()
        await client.update_group(group_id, name, description=description, parent_id=parent_id)

    async def inactivate_group(self, group_id: int) -> None:
        await self._upstreams.need_damstra().inactivate_group(group_id)

    async def change_group_users(
        self, group_id: int, user_ids: Sequence[int], *, role: GroupRole, add: bool
    ) -> None:
        client = self._upstreams.need_damstra()
        if role is GroupRole.MEMBER:
            send = client.add_group_members if add else client.remove_group_members
        else:
            send = client.add_group_supervisors if add else client.remove_group_supervisors
        await send(group_id, user_ids)

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
        return await self._upstreams.need_damstra().schedule_user(
            user_id,
            lesson_version_ids,
            schedule_date=schedule_date,
            grace_period=grace_period,
            grace_period_unit=grace_period_unit,
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
        return await self._upstreams.need_damstra().complete_lesson(
            user_id,
            lesson_id=lesson_id,
            lesson_version_id=lesson_version_id,
            completed_date=completed_at,
            completed_by_user_id=completed_by,
        )

    async def assign_package(self, person_api_id: str, package_api_id: str) -> TrainingRecord:
        """TRAINING_RECORDS: a new open record of the package for the person."""
        client = self._upstreams.need_training_records()
        return await client.create_record(person_api_id=person_api_id, package_api_id=package_api_id)

    async def complete_record(self, api_id: str, completed_at: datetime) -> TrainingRecord:
        client = self._upstreams.need_training_records()
        return await client.update_record(api_id, date_completed=completed_at)

    async def delete_record(self, api_id: str) -> None:
        await self._upstreams.need_training_records().delete_record(api_id)

    async def unassign_courses(self, login_id: int | str, course_codes: Sequence[str]) -> None:
        """LEARNINGLOGIN: removes the login's sessions of these courses."""
        await self._upstreams.need_learninglogin().unassign_courses(login_id, course_codes)

    async def unassign_train_sessions(self, session_ids: Sequence[int | str]) -> None:
        await self._upstreams.need_learninglogin().unassign_train_sessions(session_ids)

    # -- DAMSTRA ILT sessions -------------------------------------------------------------------

    async def create_ilt_session(self, fields: DamstraILTSessionInput) -> DamstraILTSession:
        return await self._upstreams.need_damstra().create_ilt_session(fields)

    async def update_ilt_session(self, session_id: int, fields: DamstraILTSessionInput) -> DamstraILTSession:
        return await self._upstreams.need_damstra().update_ilt_session(session_id, fields)

    async def complete_ilt_session(self, session_id: int) -> None:
        await self._upstreams.need_damstra().complete_ilt_session(session_id)

    async def cancel_ilt_session(
        self, session_id: int, *, notify_trainees: bool, notify_instructor: bool
    ) -> None:
        await self._upstreams.need_damstra().cancel_ilt_session(
            session_id, notify_trainees=notify_trainees, notify_instructor=notify_instructor
        )

    async def register(self, session_id: int, user_ids: Sequence[int]) -> None:
        await self._upstreams.need_damstra().bulk_register(session_id, user_ids)

    async def deregister(self, session_id: int, user_ids: Sequence[int]) -> None:
        await self._upstreams.need_damstra().bulk_deregister(session_id, user_ids)

    async def save_attendance(
        self, session_id: int, attendees: Sequence[tuple[int, bool | None, bool | None]]
    ) -> None:
        """`attendees`: (attendee id, passed, attended); None leaves that flag as it is."""
        await self._upstreams.need_damstra().save_attendance(session_id, attendees)
