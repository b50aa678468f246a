"""What the DAMSTRA ILT writes share: finding the session an input names, and its attendees' schedules.

native = session_native(input.session_id, "Completing an ILT session")   # before any request
session = await load_session(info, native, input.session_id)
"""

from __future__ import annotations

import asyncio

from gateway.errors import UpstreamError, UpstreamNotFound
from gateway.upstreams.damstra.records import DamstraAttendee, DamstraILTSession, DamstraSchedule
from resolvers.info import Info
from resolvers.mutations.scheduling import OPEN_DAMSTRA_STATUSES
from resolvers.mutations.targets import damstra_native
from resolvers.mutations.user_errors import NOT_FOUND, Refused

SESSION_FIELD = ["sessionId"]
SESSION_CANCELLED = "SESSION_CANCELLED"
SESSION_COMPLETED = "SESSION_COMPLETED"
STATUS_ACTIVE, STATUS_COMPLETED, STATUS_CANCELLED = 1, 2, 3


def session_native(raw: str, doing: str) -> str:
    """The DAMSTRA session id an `ILTSession` ID names; a refusal on `sessionId` otherwise."""
    return damstra_native(SESSION_FIELD, raw, "ILTSession", doing)


async def load_session(info: Info, native: str, raw: str) -> DamstraILTSession:
    try:
        session: DamstraILTSession = await info.context.loaders.ilt_session.load(native)
    except UpstreamNotFound:
        raise Refused.at(SESSION_FIELD, f"no ILT session with ID {raw}", NOT_FOUND) from None
    return session


async def session_at(info: Info, raw: str, doing: str) -> DamstraILTSession:
    return await load_session(info, session_native(raw, doing), raw)


async def attendees_of(info: Info, session_id: int) -> list[DamstraAttendee]:
    found: list[DamstraAttendee] = await info.context.loaders.attendees.load(str(session_id))
    return found


async def schedules_by_id(info: Info, schedule_ids: list[int]) -> dict[int, DamstraSchedule]:
    """The schedules that could be read; one that could not is left out rather than failing the rest."""
    loader = info.context.loaders.schedule
    found = await asyncio.gather(*(loader.load(str(i)) for i in schedule_ids), return_exceptions=True)
    return {s.id: s for s in found if isinstance(s, DamstraSchedule)}


async def open_attendee_schedules(info: Info, session_id: int) -> dict[int, DamstraSchedule]:
    """The open lesson schedules registered in the session: what completing or cancelling it closes.

    Only events depend on this, so a failed read gives fewer events, never a refused write.
    """
    try:
        attendees = await attendees_of(info, session_id)
    except UpstreamError:
        return {}
    ids = [a.lesson_schedule_id for a in attendees if a.lesson_schedule_id is not None]
    return {
        sid: s
        for sid, s in (await schedules_by_id(info, ids)).items()
        if (s.status or "").lower() in OPEN_DAMSTRA_STATUSES
    }
