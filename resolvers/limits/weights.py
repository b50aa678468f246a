"""What each field asks of the upstreams, in expected upstream requests: the weights of the static
cost estimate (`cost.py`), read off the resolvers and the loaders they call. They live here, in code,
the way the IBM GraphQL Cost Directive's `@cost` would sit on the schema; schema.graphql carries none.

A field's `Reads`:

    each      requests for every object the field is asked of (a page, a look-up with no batch form)
    per_item  requests for every item of the list it answers (User.groups: a group read per group)
    batch     its loader batches keys: ceil(objects / batch) requests in all (DAMSTRA lessons, 500 a request)
    shared    reads made once per request whoever asks (the whole TRAINING_RECORDS list, every ILT session)

A field not listed weighs nothing: its value came with its parent's record. A field whose reads depend
on its arguments (a status filter that spares a source, `first` that reaches further pages) has a
function of the arguments instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.data.completions import ISCOUT_PAGE
from gateway.sources import Source
from resolvers.enums import ScheduleStatus
from resolvers.global_id import InvalidGlobalId, decode
from resolvers.relay import DEFAULT_PAGE
from resolvers.schedule import sources_for

# DAMSTRA's `GET /lesson?lessonIds=` takes this many IDs a request (gateway/upstreams/damstra/client.py).
LESSON_BATCH = 500
# A list with no `first`, as the IBM spec's `@listSize(assumedSize:)` would say.
ASSUMED_LIST_SIZE = DEFAULT_PAGE
# A listing read whole (LearningLogin's course codes, the TRAINING_RECORDS records, every ILT session):
# its length is not known before it is read. The vendors' pages hold 64 to 1,000 items.
ASSUMED_PAGES = 5
# The DAMSTRA users a company-wide read covers, one schedule read each (DAMSTRA lists schedules per
# user only): unknown before the directory is read; a deployment with more people raises max_cost.
ASSUMED_PEOPLE = 200
# A mutation: the look-ups it makes first, its writes and the read-back of what changed (the IBM
# spec's default weight of a mutation field). Its items are bounded by its input, not the query.
MUTATION = 10
DAMSTRA_USERS_PAGE = 100


class Arguments(Protocol):
    def get(self, name: str) -> Any:
        """The argument's value (a variable's value where it names one); None when not given."""
        ...

    def given(self, name: str) -> bool:
        """Whether the argument has a value other than null (its value itself left unread, so an
        estimate holds for every value of a variable it names)."""
        ...


@dataclass(frozen=True)
class Reads:
    each: int = 0
    per_item: int = 0
    batch: int = 0
    shared: tuple[str, ...] = ()


SHARED_READS = {
    "training_records": ASSUMED_PAGES,  # Loaders._every_training_record: the API filters by no person
    "ilt_sessions": ASSUMED_PAGES,  # Loaders.all_ilt_sessions: the list filters by no lesson
}

Weight = Reads | Callable[[Arguments], Reads]

BATCHED_LESSON = Reads(batch=LESSON_BATCH)
LOOK_UP = Reads(each=1)  # one keyed read with no batch form (DAMSTRA users, groups, schedules)
PAGE = Reads(each=1)  # one window of an upstream listing


def _first(args: Arguments) -> int:
    first = args.get("first")
    return first if isinstance(first, int) and first >= 0 else DEFAULT_PAGE


def _source(args: Arguments) -> str | None:
    source = args.get("source")
    return source if isinstance(source, str) else None


def _of_person(sources: Collection[Source], first: int, looked_up: int = 0) -> Reads:
    """One person's reads in each of `sources` (gateway/data/completions.py, resolvers/user.py)."""
    each = looked_up
    each += Source.DAMSTRA in sources  # their schedules, one listing
    each += Source.LEARNINGLOGIN in sources  # their train sessions, by username
    if Source.ISCOUT in sources:
        each += max(1, math.ceil(first / ISCOUT_PAGE))  # pages as far as the page of answers needs
    shared = ("training_records",) if Source.TRAINING_RECORDS in sources else ()
    return Reads(each=each, shared=shared)


def _wanted(args: Arguments, among: Collection[Source]) -> list[Source]:
    source = _source(args)
    return [s for s in among if source is None or s.name == source]


def _user_schedules(args: Arguments) -> Reads:
    raw = args.get("status")
    statuses = (
        {ScheduleStatus[s] for s in raw if s in ScheduleStatus.__members__}
        if isinstance(raw, list)
        else set()
    )
    return _of_person(_wanted(args, sources_for(statuses)), 0)


def _user_completions(args: Arguments) -> Reads:
    return _of_person(_wanted(args, list(Source)), _first(args))


def _completions(args: Arguments) -> Reads:
    """Query.completions: one person's (found first), or everyone's (the costly read)."""
    sources = _wanted(args, list(Source))
    lesson = args.get("lessonId")
    if isinstance(lesson, str):
        try:
            sources = [s for s in sources if s is decode(lesson, "Lesson").source]
        except InvalidGlobalId:
            return Reads()  # refused before any read
    if args.given("expiringBefore") or args.given("expiringAfter"):
        sources = [s for s in sources if s in (Source.LEARNINGLOGIN, Source.ISCOUT)]
    first = _first(args)
    if args.given("userId"):
        return _of_person(sources, first, looked_up=2)
    each = 0
    if Source.DAMSTRA in sources:
        each += math.ceil(ASSUMED_PEOPLE / DAMSTRA_USERS_PAGE) + ASSUMED_PEOPLE  # the directory, then each
    if Source.LEARNINGLOGIN in sources:
        each += ASSUMED_PAGES  # every completed train session
    if Source.ISCOUT in sources:
        each += max(1, math.ceil(first / ISCOUT_PAGE))
    shared = ("training_records",) if Source.TRAINING_RECORDS in sources else ()
    return Reads(each=each, shared=shared)


def _statuses(args: Arguments) -> set[ScheduleStatus]:
    raw = args.get("status")
    if not isinstance(raw, list):
        return set()
    return {ScheduleStatus[s] for s in raw if s in ScheduleStatus.__members__}


def _schedules(args: Arguments) -> Reads:
    """Query.schedules read live (until the training index is LIVE, or without one): a group's members
    page by page and each member's schedules, or everyone's as company-wide completions read them.
    From the index it reads nothing upstream; the estimate stays the live path's, which must fit too."""
    sources = _wanted(args, sources_for(_statuses(args)))
    if args.given("groupId"):
        person = _of_person(sources, 0)
        return Reads(each=1 + ASSUMED_LIST_SIZE * person.each, shared=person.shared)
    each = 0
    if Source.DAMSTRA in sources:
        each += math.ceil(ASSUMED_PEOPLE / DAMSTRA_USERS_PAGE) + ASSUMED_PEOPLE
    if Source.LEARNINGLOGIN in sources:
        each += ASSUMED_PAGES
    shared = ("training_records",) if Source.TRAINING_RECORDS in sources else ()
    return Reads(each=each, shared=shared)


# Group.overdueCount read live: the members, then each one's DAMSTRA and LearningLogin schedules.
_GROUP_OVERDUE = Reads(each=1 + ASSUMED_LIST_SIZE * _of_person(sources_for({ScheduleStatus.OVERDUE}), 0).each)


def _lessons(args: Arguments) -> Reads:
    """A DAMSTRA catalogue page, then the codes the other sources name, gathered from whole listings
    (read when the page or totalCount reaches them). A status filter keeps only DAMSTRA's."""
    sources = _wanted(args, list(Source))
    if args.get("status"):
        sources = [s for s in sources if s is Source.DAMSTRA]
    each = (Source.DAMSTRA in sources) + ASSUMED_PAGES * sum(
        s in sources for s in (Source.LEARNINGLOGIN, Source.ISCOUT)
    )
    shared = ("training_records",) if Source.TRAINING_RECORDS in sources else ()
    return Reads(each=each, shared=shared)


def _ilt_sessions(args: Arguments) -> Reads:
    each = ASSUMED_PAGES if args.given("lessonId") else 1  # by lesson: the whole list
    if args.given("instructorId"):
        each += 2  # the instructor, found as a person first
    if args.given("scheduleId"):
        each += 1  # a caller who is not ADMIN: the schedule, read to check it is theirs to see
    return Reads(each=each)


WEIGHTS: dict[str, Weight] = {
    # A person or an object by ID: the look-up, and for a person the one linking their accounts.
    "Query.node": Reads(each=2),
    "Query.user": Reads(each=2),
    "Query.group": LOOK_UP,
    "Query.lesson": LOOK_UP,
    "Query.schedule": LOOK_UP,
    "Query.iltSession": LOOK_UP,
    # A DAMSTRA page, then the identity file's people with no DAMSTRA account, each searched for in
    # DAMSTRA by email (assumed a list's worth) once the page or totalCount reaches them.
    "Query.users": Reads(each=1 + ASSUMED_LIST_SIZE),
    "Query.groups": PAGE,
    "Query.lessons": _lessons,
    "Query.iltSessions": _ilt_sessions,
    "Query.completions": _completions,
    "Query.schedules": _schedules,
    # Names come with the DAMSTRA user; a LearningLogin-only person's come from the train sessions their
    # schedules and completions read anyway (the same loader, once).
    "User.groups": Reads(per_item=1),  # a DAMSTRA group read per group: no batch form
    "User.supervisedGroups": Reads(per_item=1),
    "User.schedules": _user_schedules,
    "User.completions": _user_completions,
    "Group.parent": LOOK_UP,
    "Group.overdueCount": _GROUP_OVERDUE,
    "Group.members": PAGE,  # whole users: their later look-ups cost nothing
    "Group.supervisors": PAGE,
    "Lesson.iltSessions": Reads(shared=("ilt_sessions",)),
    "Schedule.user": LOOK_UP,
    "Schedule.lesson": BATCHED_LESSON,
    "Schedule.embedUrl": LOOK_UP,
    # A completed DAMSTRA list item whose lesson has questions: the schedule read by id (no batch form).
    "Schedule.passed": LOOK_UP,
    "Schedule.certificateUrl": LOOK_UP,  # the same read as `passed` (the loader's, once)
    # `GET /lessondetails?lessonIds=`, batched as the lessons are.
    "Lesson.customFields": BATCHED_LESSON,
    "Lesson.questionCount": BATCHED_LESSON,
    "Lesson.passRate": BATCHED_LESSON,
    "Lesson.thumbnailUrl": BATCHED_LESSON,
    "ILTSession.lesson": BATCHED_LESSON,
    "ILTSession.instructor": LOOK_UP,
    "ILTSession.attendees": LOOK_UP,  # the session's attendee list
    "ILTAttendee.user": LOOK_UP,
    "ILTAttendee.registeredBy": LOOK_UP,
    "ILTAttendee.schedule": LOOK_UP,
    "Completion.user": LOOK_UP,
    "Completion.instructor": LOOK_UP,
    "Completion.lesson": BATCHED_LESSON,  # the record's own schedule needs no read
    "TrainingEvent.user": LOOK_UP,  # each event's, read fresh when it is sent
    "TrainingEvent.schedule": LOOK_UP,
    "TrainingEvent.lesson": BATCHED_LESSON,
}


_BY_NAMES = {tuple(key.split(".")): weight for key, weight in WEIGHTS.items()}
_NOTHING = Reads()
_A_MUTATION = Reads(each=MUTATION)


def reads_of(type_name: str, field_name: str, root_of_mutations: bool, args: Arguments) -> Reads:
    weight = _BY_NAMES.get((type_name, field_name))
    if weight is None:
        return _A_MUTATION if root_of_mutations else _NOTHING
    return weight if isinstance(weight, Reads) else weight(args)
