"""`Lesson`: DAMSTRA lessons, LEARNINGLOGIN course codes, TRAINING_RECORDS packages, ISCOUT trainings."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, cast

import strawberry

from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraLesson
from resolvers import relay
from resolvers.enums import DAMSTRA_LESSON_STATUS, LessonStatus
from resolvers.global_id import encode
from resolvers.info import Info, or_reported
from resolvers.node import Node

if TYPE_CHECKING:
    from resolvers.ilt_session import ILTSession


@strawberry.federation.type(keys=["id"])
class Lesson(Node):
    id: strawberry.ID
    source: Source
    native_id: str
    code: str | None = None
    name: str | None = None
    status: LessonStatus | None = None
    duration_seconds: float | None = None
    version: int | None = None

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Lesson:
        """A supergraph's `_entities` look-up, as `lesson(id:)` finds it."""
        from resolvers.lookup import find_typed

        return cast(Lesson, await find_typed(info, id, "Lesson"))

    @strawberry.field
    async def ilt_sessions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> relay.Connection[Annotated[ILTSession, strawberry.lazy("resolvers.ilt_session")]]:
        from resolvers.ilt_session import ILTSession, all_ilt_sessions

        if self.source is not Source.DAMSTRA:
            return relay.from_list([], first, after)
        sessions = await or_reported(info, all_ilt_sessions(info), [])
        mine = [ILTSession.from_damstra(s) for s in sessions if str(s.lesson_id) == self.native_id]
        return relay.from_list(mine, first, after)

    @classmethod
    def from_damstra(cls, lesson: DamstraLesson) -> Lesson:
        native = str(lesson.lesson_id)
        return cls(
            id=_damstra_lesson_id(native),
            source=Source.DAMSTRA,
            native_id=native,
            name=lesson.name,
            status=DAMSTRA_LESSON_STATUS.get((lesson.status or "").lower()),
            duration_seconds=lesson.duration / 1000 if lesson.duration is not None else None,
            version=lesson.version,
        )

    @classmethod
    def from_code(cls, source: Source, code: str, name: str | None = None) -> Lesson:
        """A lesson the upstream only names by a code: a course code, a package id, a training id."""
        return cls(
            id=strawberry.ID(encode("Lesson", source, code)),
            source=source,
            native_id=code,
            code=code,
            name=name,
        )


@functools.lru_cache(maxsize=8192)
def _damstra_lesson_id(native_id: str) -> strawberry.ID:
    # Cached: a catalogue listing encodes the same few hundred lesson IDs on every read.
    return strawberry.ID(encode("Lesson", Source.DAMSTRA, native_id))


async def lesson_for(info: Info, source: Source, native_id: str) -> Lesson | None:
    """The lesson a schedule or completion points at; DAMSTRA's through the batched loader."""
    if source is Source.DAMSTRA:
        lesson: DamstraLesson = await info.context.loaders.lesson.load(native_id)
        return Lesson.from_damstra(lesson)
    return Lesson.from_code(source, native_id)
