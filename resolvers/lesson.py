"""`Lesson`: DAMSTRA lessons, LEARNINGLOGIN course codes, TRAINING_RECORDS packages, ISCOUT trainings."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, cast

import strawberry

from gateway.errors import UpstreamError, UpstreamNotFound
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraLesson
from resolvers import relay
from resolvers.enums import DAMSTRA_LESSON_STATUS, LessonStatus
from resolvers.global_id import encode
from resolvers.info import Info, or_reported, path_of
from resolvers.node import Node

if TYPE_CHECKING:
    from resolvers.ilt_session import ILTSession


@strawberry.type(description="A DAMSTRA lesson's custom field (`lessonVersionCustomFields`).")
class LessonCustomField:
    name: str = strawberry.field(description="The field's description, else its field id.")
    value: str | None


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
    in_library: bool | None = strawberry.field(
        default=None, description="Whether the DAMSTRA lesson is a library lesson (`inLibrary`)."
    )
    questionnaire_type: int | None = strawberry.field(
        default=None, description="DAMSTRA's questionnaire type id (`questionnaireType`)."
    )
    record: strawberry.Private[DamstraLesson | None] = None

    @strawberry.field(description="DAMSTRA's custom fields of the lesson's version; null for other sources.")
    async def custom_fields(self, info: Info) -> list[LessonCustomField] | None:
        if self.record is None:
            return None
        fields = self.record.lesson_version_custom_fields
        if fields is None:  # the list that answered had no such key: the details list may
            details = await _details(info, self)
            fields = details.lesson_version_custom_fields if details else None
        return [LessonCustomField(name=f.name, value=f.value) for f in fields or []]

    @strawberry.field(description="The number of questions in the lesson's questionnaire (DAMSTRA).")
    async def question_count(self, info: Info) -> int | None:
        if self.record is None:
            return None
        if self.record.question_count is not None:
            return self.record.question_count
        details = await _details(info, self)
        return details.question_count if details else None

    @strawberry.field(description="The minimum score, in percent, that passes the questionnaire (DAMSTRA).")
    async def pass_rate(self, info: Info) -> float | None:
        if self.record is None:
            return None
        if self.record.questionnaire_pass_rate is not None:
            return self.record.questionnaire_pass_rate
        details = await _details(info, self)
        return details.questionnaire_pass_rate if details else None

    @strawberry.field(description="The lesson's thumbnail image (DAMSTRA).")
    async def thumbnail_url(self, info: Info) -> str | None:
        if self.record is None:
            return None
        if self.record.lesson_thumbnail is not None:
            return self.record.lesson_thumbnail
        details = await _details(info, self)
        return details.lesson_thumbnail if details else None

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
            in_library=lesson.in_library,
            questionnaire_type=lesson.questionnaire_type,
            record=lesson,
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


async def _details(info: Info, lesson: Lesson) -> DamstraLesson | None:
    """The lesson as `GET /lessondetails` answers it, batched with every other lesson asked for in the
    same tick; None when that list does not hold it, or (reported) when DAMSTRA fails."""
    try:
        found: DamstraLesson = await info.context.loaders.lesson_details.load(lesson.native_id)
    except UpstreamNotFound:
        return None
    except UpstreamError as exc:
        info.context.report(exc, path_of(info))
        return None
    return found


@functools.lru_cache(maxsize=8192)
def _damstra_lesson_id(native_id: str) -> strawberry.ID:
    # Cached: a catalogue listing encodes the same few hundred lesson IDs on every read.
    return strawberry.ID(encode("Lesson", Source.DAMSTRA, native_id))


def known_lesson_for(info: Info, source: Source, native_id: str) -> Lesson | None:
    """`lesson_for`'s answer when it needs no wait (a code's lesson, a cached DAMSTRA lesson), else None."""
    if source is not Source.DAMSTRA:
        return Lesson.from_code(source, native_id)
    known = info.context.loaders.known_lesson(native_id)
    return Lesson.from_damstra(known) if known is not None else None


async def lesson_for(info: Info, source: Source, native_id: str) -> Lesson | None:
    """The lesson a schedule or completion points at; DAMSTRA's through the batched loader."""
    if source is Source.DAMSTRA:
        lesson: DamstraLesson = await info.context.loaders.lesson.load(native_id)
        return Lesson.from_damstra(lesson)
    return Lesson.from_code(source, native_id)
