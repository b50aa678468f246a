"""`Subscription.trainingEvents`: training events as they happen, over `graphql-transport-ws`.

    subscription { trainingEvents(types: [SCHEDULE_COMPLETED], userId: "VXNlcjpkYW1zdHJhOjEwMjM=") {
      type occurredAt source user { fullName } schedule { status } lesson { name } } }

A WebSocket's context lives as long as the connection, so each event is resolved through fresh
loaders (what the connection read for an earlier event is stale by now), within an upstream budget
and deadline of its own.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from gateway.data import events
from gateway.errors import UpstreamNotFound
from gateway.sources import Source
from resolvers.errors import NotFoundError
from resolvers.global_id import GlobalId, decode, encode
from resolvers.info import Info
from resolvers.lesson import Lesson, lesson_for
from resolvers.lookup import find_schedule, find_user
from resolvers.scalars import DateTime
from resolvers.schedule import Schedule
from resolvers.user import User

strawberry.enum(
    events.TrainingEventType, name="TrainingEventType", description="What kind of change happened."
)


@strawberry.type(description="A change in a training system, with the objects it touched.")
class TrainingEvent:
    type: events.TrainingEventType
    occurred_at: DateTime = strawberry.field(description="When the source says it happened.")
    source: Source = strawberry.field(description="The system where it happened.")
    cancellation_reason: str | None = strawberry.field(
        description="Why a schedule was cancelled, in the source's words (DAMSTRA's `cancellationReason`)."
    )
    event: strawberry.Private[events.TrainingEvent]

    @classmethod
    def from_event(cls, event: events.TrainingEvent) -> TrainingEvent:
        return cls(
            type=event.type,
            occurred_at=event.occurred_at,
            source=event.source,
            cancellation_reason=event.cancellation_reason,
            event=event,
        )

    @strawberry.field(description="The affected account's ID; it finds the user even when `user` cannot.")
    def user_id(self) -> strawberry.ID | None:
        return self._id("User", self.event.user_id)

    @strawberry.field(description="The affected schedule's ID, for schedule events.")
    def schedule_id(self) -> strawberry.ID | None:
        return self._id("Schedule", self.event.schedule_id)

    @strawberry.field(description="The user, as they are now; null when they no longer exist.")
    async def user(self, info: Info) -> User | None:
        if self.event.user_id is None:
            return None
        try:
            return await find_user(info, GlobalId("User", self.event.source, self.event.user_id))
        except NotFoundError:
            return None

    @strawberry.field(description="The schedule, as it is now; null when it no longer exists.")
    async def schedule(self, info: Info) -> Schedule | None:
        return await _schedule_of(info, self.event)

    @strawberry.field(description="The lesson the event is about, or that its schedule is for.")
    async def lesson(self, info: Info) -> Lesson | None:
        ref = (self.event.source, self.event.lesson_id) if self.event.lesson_id else None
        if ref is None:
            # Webhooks name the schedule only; its lesson comes with it (the same loader call).
            schedule = await _schedule_of(info, self.event)
            ref = schedule.lesson_ref if schedule else None
        if ref is None:
            return None
        try:
            return await lesson_for(info, *ref)
        except UpstreamNotFound:
            return None

    def _id(self, type_name: str, native_id: str | None) -> strawberry.ID | None:
        return strawberry.ID(encode(type_name, self.event.source, native_id)) if native_id else None


async def _schedule_of(info: Info, event: events.TrainingEvent) -> Schedule | None:
    if event.schedule_id is None:
        return None
    try:
        return await find_schedule(info, GlobalId("Schedule", event.source, event.schedule_id))
    except NotFoundError:
        return None


async def _accepts(
    info: Info, types: list[events.TrainingEventType] | None, user_id: strawberry.ID | None
) -> events.EventFilter:
    wanted = set(types or [])
    accounts: set[tuple[Source, str]] | None = None
    if user_id is not None:
        # The person, so an event about any of their linked accounts reaches them.
        person = (await find_user(info, decode(user_id, "User"))).person
        accounts = {(a.source, a.native_id) for a in person.accounts}

    def accepts(event: events.TrainingEvent) -> bool:
        if wanted and event.type not in wanted:
            return False
        return accounts is None or (event.source, event.user_id or "") in accounts

    return accepts


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Training events as they happen: from DAMSTRA's webhooks and LearnGraph's own "
        "mutations. `types` keeps only those kinds; `userId` only events about that person's accounts."
    )
    async def training_events(
        self,
        info: Info,
        types: list[events.TrainingEventType] | None = None,
        user_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[TrainingEvent, None]:
        accepts = await _accepts(info, types, user_id)
        # Only events about people the caller may see reach them (the data layer's rule).
        async with info.context.training_events(accepts) as stream:
            async for event in stream:
                info.context.refresh_for_event()
                yield TrainingEvent.from_event(event)
