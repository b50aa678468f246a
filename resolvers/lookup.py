"""Finding one object by its global ID, for `node(id:)` and the typed root fields.

What the caller may not see comes back from the data layer as `Forbidden` (a FORBIDDEN error);
an ID that names nothing is NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from gateway.errors import UpstreamNotFound
from gateway.native_ids import numeric_id, opaque_id
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraGroup, DamstraILTSession, DamstraSchedule
from gateway.upstreams.learninglogin.records import TrainSession
from gateway.upstreams.training_records.records import TrainingRecord
from resolvers.completion import (
    Completion,
    from_damstra,
    from_iscout,
    from_learninglogin,
    from_training_record,
)
from resolvers.errors import NotFoundError
from resolvers.global_id import GlobalId, decode
from resolvers.group import Group
from resolvers.ilt_session import ILTSession
from resolvers.info import Info
from resolvers.lesson import Lesson
from resolvers.node import Node
from resolvers.schedule import Schedule
from resolvers.user import User

# gateway.data.identity's native id for a LearningLogin login the identity file names by username alone.
USERNAME_ONLY_PREFIX = "username:"


def _missing(gid: GlobalId) -> NotFoundError:
    return NotFoundError(f"no {gid.type_name} with ID {gid} ({gid.source.name} {gid.native_id})")


def _checked_native(gid: GlobalId) -> str:
    """The native id, held to its source's pattern before it can reach a URL."""
    if (
        gid.type_name == "User"
        and gid.source is Source.LEARNINGLOGIN
        and gid.native_id.startswith(USERNAME_ONLY_PREFIX)
        and len(gid.native_id) > len(USERNAME_ONLY_PREFIX)
    ):
        # A login the identity file names by username alone; it is only ever looked up there.
        return gid.native_id
    if gid.source is Source.DAMSTRA or (gid.source is Source.LEARNINGLOGIN and gid.type_name != "Lesson"):
        return numeric_id(gid.native_id, f"{gid.source.name} {gid.type_name} id")
    if gid.source is Source.ISCOUT and gid.type_name == "Completion":
        return gid.native_id  # composite: user:training:created, each part checked when used
    return opaque_id(gid.native_id, f"{gid.source.name} {gid.type_name} id")


async def find_user(info: Info, gid: GlobalId) -> User:
    person = await info.context.people.find(gid.source, _checked_native(gid))
    if person is None:
        raise _missing(gid)
    return User.from_person(person)


async def find_group(info: Info, gid: GlobalId) -> Group:
    if gid.source is not Source.DAMSTRA:
        raise _missing(gid)
    try:
        group: DamstraGroup = await info.context.loaders.group.load(_checked_native(gid))
    except UpstreamNotFound:
        raise _missing(gid) from None
    return Group.from_damstra(group)


async def find_lesson(info: Info, gid: GlobalId) -> Lesson:
    native = _checked_native(gid)
    loaders, listings = info.context.loaders, info.context.listings
    try:
        if gid.source is Source.DAMSTRA:
            return Lesson.from_damstra(await loaders.lesson.load(native))
        if gid.source is Source.LEARNINGLOGIN:
            # The search matches course names too ("FA" finds every "Fall Protection"): read on to a match.
            async for code in listings.course_codes(native):
                if code == native:
                    return Lesson.from_code(gid.source, native)
        elif gid.source is Source.TRAINING_RECORDS:
            packages = await loaders.training_packages()
            if native in packages:
                return Lesson.from_code(gid.source, native, packages[native])
        elif gid.source is Source.ISCOUT:
            if await listings.has_iscout_training(native):
                return Lesson.from_code(gid.source, native)
        else:
            for item in await listings.vendor_completions(gid.source, None):
                if item.lesson == (gid.source, native):
                    return Lesson.from_code(gid.source, native, item.lesson_name)
    except UpstreamNotFound:
        pass
    raise _missing(gid)


async def find_schedule(info: Info, gid: GlobalId) -> Schedule:
    native = _checked_native(gid)
    loaders = info.context.loaders
    try:
        if gid.source is Source.DAMSTRA:
            schedule: DamstraSchedule = await loaders.schedule.load(native)
            return Schedule.from_damstra(schedule)
        if gid.source is Source.LEARNINGLOGIN:
            session: TrainSession = await loaders.train_session.load(native)
            return Schedule.from_learninglogin(session, None)
        if gid.source is Source.TRAINING_RECORDS:
            record: TrainingRecord = await loaders.training_record.load(native)
            return Schedule.from_training_record(record)
    except UpstreamNotFound:
        pass
    raise _missing(gid)


async def find_ilt_session(info: Info, gid: GlobalId) -> ILTSession:
    if gid.source is not Source.DAMSTRA:
        raise _missing(gid)
    try:
        session: DamstraILTSession = await info.context.loaders.ilt_session.load(_checked_native(gid))
    except UpstreamNotFound:
        raise _missing(gid) from None
    return ILTSession.from_damstra(session, datetime.now(UTC))


async def find_completion(info: Info, gid: GlobalId) -> Completion:
    native = _checked_native(gid)
    loaders, listings = info.context.loaders, info.context.listings
    item = None
    try:
        if gid.source is Source.DAMSTRA:
            item = from_damstra(await loaders.schedule.load(native))
        elif gid.source is Source.LEARNINGLOGIN:
            item = from_learninglogin(await loaders.train_session.load(native), None)
        elif gid.source is Source.TRAINING_RECORDS:
            item = from_training_record(await loaders.training_record.load(native))
        elif gid.source is not Source.ISCOUT:
            found = await listings.vendor_completions(gid.source, None)
            item = next((c for c in found if c.native_id == native), None)
        else:
            parts = native.split(":")
            if len(parts) == 3:
                user_id, training_id = opaque_id(parts[0]), opaque_id(parts[1])
                found = listings.iscout_completions(user_id=user_id, training_id=training_id)
                async for completion in found:
                    candidate = from_iscout(completion)
                    if candidate is not None and candidate.native_id == native:
                        item = candidate
                        break
    except UpstreamNotFound:
        pass
    if item is None:
        raise _missing(gid)
    return Completion.from_item(item)


FINDERS: dict[str, Callable[[Info, GlobalId], Awaitable[Node]]] = {
    "User": find_user,
    "Group": find_group,
    "Lesson": find_lesson,
    "Schedule": find_schedule,
    "ILTSession": find_ilt_session,
    "Completion": find_completion,
}


async def find_node(info: Info, raw_id: str) -> Node:
    gid = decode(raw_id)
    finder = FINDERS.get(gid.type_name)
    if finder is None:
        raise _missing(gid)
    return await finder(info, gid)


async def find_typed(info: Info, raw_id: str, type_name: str) -> Node:
    return await FINDERS[type_name](info, decode(raw_id, type_name))
