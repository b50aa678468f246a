"""The fixed operations of a bench run, their inputs picked from the sandbox's seeded world, and the
least the upstream APIs allow for each: the requests, and the waves of requests that must wait for
an earlier answer (the latency floor is waves x upstream latency).

    ops = build_operations(build_world(people=5000, seed=7))
    ops[0].body(0)                     # the JSON request body of iteration 0
    ops[0].minimum.requests(warm=True) # {"DAMSTRA GET /user/{id}/lesson_schedule": 100, ...}

Endpoint keys read `SOURCE METHOD /path/{id}/shape`, as the sandbox's `/_sandbox/stats` counts them.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.sources import Source
from resolvers.global_id import encode
from sandbox.training_records import MAX_LIMIT as TRAINING_RECORDS_PAGE
from sandbox.world import STATUS_ACTIVE, SeededPerson, World

Q1 = """query Dashboard($group: ID!) {
  group(id: $group) {
    name
    members(first: 100) {
      edges { node {
        id fullName
        schedules(status: [OVERDUE]) { edges { node { id status dueDate lesson { name } } } }
      } }
    }
  }
}"""

Q2 = """query PersonView($user: ID!) {
  user(id: $user) {
    id fullName
    completions(first: 50) { edges { node { id source completedAt score lesson { id name } } } }
  }
}"""

Q3 = """query Catalogue {
  lessons(first: 500) { edges { node { id name status durationSeconds version } } }
}"""

Q4 = "{ __typename }"

M1 = """mutation Schedule($input: ScheduleLessonsInput!) {
  scheduleLessons(input: $input) { schedules { id status } userErrors { field message code } }
}"""


@dataclass(frozen=True)
class Call:
    endpoint: str  # SOURCE METHOD /path/{id}
    count: int
    # What the cross-request cache holds once read: an entity (lesson, group, user), or the whole
    # TRAINING_RECORDS list (for LEARNGRAPH_TRAINING_RECORDS_CACHE_TTL_SECONDS).
    cached: bool = False
    note: str = ""


@dataclass(frozen=True)
class Minimum:
    """The least the upstream APIs allow, as waves: each wave needs an answer from the one before."""

    waves: tuple[tuple[Call, ...], ...]
    reasoning: tuple[str, ...]

    def requests(self, *, warm: bool) -> dict[str, int]:
        counts: dict[str, int] = {}
        for wave in self.waves:
            for call in wave:
                if call.count and not (warm and call.cached):
                    counts[call.endpoint] = counts.get(call.endpoint, 0) + call.count
        return counts

    def wave_count(self, *, warm: bool) -> int:
        return sum(1 for wave in self.waves if any(c.count and not (warm and c.cached) for c in wave))

    def floor_ms(self, latency_ms: float, *, warm: bool) -> float:
        return self.wave_count(warm=warm) * latency_ms


@dataclass
class Operation:
    key: str
    title: str
    query: str
    minimum: Minimum
    variables: Callable[[int], dict[str, Any]] = field(default=lambda n: {})
    mutation_field: str | None = None  # checked by introspection: skipped when the schema lacks it
    # The gateway's settings for this operation's run, over the bench's own (e.g. its caches off).
    env: dict[str, str] = field(default_factory=dict)
    # Every cross-request cache off: each operation sends what a cold cache needs (judged so).
    caches_off: bool = False

    def body(self, n: int) -> bytes:
        return orjson.dumps({"query": self.query, "variables": self.variables(n)})


def check_graphql(content: bytes) -> str | None:
    """A query's answer is good when it carries data and no error."""
    if b'"errors"' in content:
        try:
            errors = orjson.loads(content).get("errors") or []
        except orjson.JSONDecodeError:
            return "not JSON"
        if errors:
            code = (errors[0].get("extensions") or {}).get("code") or errors[0].get("message", "")[:40]
            return f"GraphQL error {code}"
    return None


def check_schedule_lessons(content: bytes) -> str | None:
    if (reason := check_graphql(content)) is not None:
        return reason
    payload = (orjson.loads(content).get("data") or {}).get("scheduleLessons") or {}
    if payload.get("userErrors"):
        return f"userError {payload['userErrors'][0].get('code')}"
    if not payload.get("schedules"):
        return "no schedule made"
    return None


def _gid(type_name: str, source: Source, native: object) -> str:
    return encode(type_name, source, str(native))


def _dashboard(world: World) -> Operation:
    state = world.damstra
    group = max(state.groups.values(), key=lambda g: (len(g.member_ids), -g.id))
    members = sorted(uid for uid in group.member_ids if uid in state.users)[:100]
    chosen = set(members)
    people = {p.damstra_user_id: p for p in world.people if p.damstra_user_id is not None}
    with_login = sum(1 for uid in members if people[uid].learninglogin_login_id is not None)
    overdue = [s for s in state.schedules.values() if s.user_id in chosen and s.status == "overdue"]
    lessons = {s.lesson_id for s in overdue}
    minimum = Minimum(
        waves=(
            (
                Call("DAMSTRA GET /group/{id}", 1, cached=True, note="the group's name"),
                Call(
                    "DAMSTRA GET /group/{id}/member",
                    1,
                    cached=True,
                    note=f"{len(members)} members, one page (kept with the group when warm)",
                ),
            ),
            (
                Call(
                    "DAMSTRA GET /user/{id}/lesson_schedule",
                    len(members),
                    cached=True,
                    note="one per member (no batch read); `status=overdue` keeps it one page",
                ),
                Call(
                    "LEARNINGLOGIN GET /train_sessions",
                    with_login,
                    cached=True,
                    note="one per member with a LearningLogin username (`assignee_login_username_eq`)",
                ),
            ),
            (
                Call(
                    "DAMSTRA GET /lesson",
                    1 if lessons else 0,
                    cached=True,
                    note=f"`lessonIds=` takes all {len(lessons)} distinct lessons in one call",
                ),
            ),
        ),
        reasoning=(
            "The group read and its member page both need only the group's ID, so they share wave 1.",
            "DAMSTRA lists schedules per user only, so each member costs one call; LearningLogin finds a "
            "person's train sessions only by username, one call per linked member.",
            "TRAINING_RECORDS needs no call: a record has no due date, so none is ever OVERDUE.",
            "ISCOUT holds completions only, never an open schedule.",
            "The lesson names wait for the schedules (wave 3). With a warm cache every read is kept "
            "across requests (the group, its member page, each member's schedule lists, the lessons: "
            "README, How fresh is an answer), so a warm dashboard sends none.",
        ),
    )
    return Operation(
        "Q1",
        f"dashboard: group {group.id} -> {len(members)} members -> overdue schedules -> lesson name",
        Q1,
        minimum,
        variables=lambda n: {"group": _gid("Group", Source.DAMSTRA, group.id)},
    )


def _fully_linked(world: World) -> SeededPerson:
    """Someone with an account in every source, linked by DAMSTRA id in the identity file."""
    linked = {e.get("damstra_user_id") for e in world.identity_entries if len(e) >= 5}
    for person in world.people:
        if (
            person.damstra_user_id in linked
            and person.learninglogin_login_id is not None
            and person.training_records_person_api_id is not None
            and person.iscout_user_id is not None
        ):
            return person
    raise ValueError("the world holds nobody linked across all four sources")


def _person_view(world: World) -> Operation:
    person = _fully_linked(world)
    completed = [
        s
        for s in world.damstra.schedules.values()
        if s.user_id == person.damstra_user_id and s.status == "completed"
    ]
    records = len(world.training_records.records)
    pages = max(1, math.ceil(records / TRAINING_RECORDS_PAGE))
    minimum = Minimum(
        waves=(
            (
                Call("DAMSTRA GET /user/{id}", 1, cached=True, note="first and last name"),
                Call(
                    "DAMSTRA GET /user/{id}/lesson_schedule",
                    1,
                    cached=True,
                    note="`status=completed`, one page (the person's list kept when warm)",
                ),
                Call(
                    "LEARNINGLOGIN GET /train_sessions",
                    1,
                    cached=True,
                    note="`assignee_login_username_eq` (kept when warm)",
                ),
                Call(
                    "TRAINING_RECORDS GET /training/record/",
                    1,
                    cached=True,
                    note="page 1 tells the count (the list is cached whole when warm)",
                ),
                Call("ISCOUT POST /completedtrainings.list", 1, note="`user_id`, newest first, page 1"),
            ),
            (
                Call(
                    "TRAINING_RECORDS GET /training/record/",
                    pages - 1,
                    cached=True,
                    note=f"pages 2..{pages} at once (offsets known from the count)",
                ),
                Call("DAMSTRA GET /lesson", 1 if completed else 0, cached=True, note="`lessonIds=`"),
            ),
        ),
        reasoning=(
            "The DAMSTRA user ID is in the global ID and the identity file names the person's other "
            "accounts, so every source's read starts in wave 1, beside the user read.",
            f"TRAINING_RECORDS documents only a name search: a person's records are found by reading "
            f"the whole list, {records} records at {TRAINING_RECORDS_PAGE} a page = {pages} calls "
            "(1 call if the deployment's `search` matches person_api_id, as the sandbox's does).",
            "ISCOUT sorts newest first, so the first page of the person's completions covers first: 50.",
            "Lesson names of DAMSTRA completions wait for the schedules (wave 2); other sources' lessons "
            "are codes needing no call. A warm cache holds the user, the lessons, the person's DAMSTRA "
            "and LearningLogin schedule lists and the TRAINING_RECORDS list (30 s by default), so warm "
            "it is one wave of 1 call: iScout's completions, which are not kept.",
        ),
    )
    return Operation(
        "Q2",
        f"person view: user {person.damstra_user_id} -> completions across all four sources -> lesson",
        Q2,
        minimum,
        variables=lambda n: {"user": _gid("User", Source.DAMSTRA, person.damstra_user_id)},
    )


def _catalogue(world: World) -> Operation:
    minimum = Minimum(
        waves=((Call("DAMSTRA GET /lesson", 1, note="maxResults=500, one page"),),),
        reasoning=(
            f"One DAMSTRA page holds 500 of the {len(world.damstra.lessons)} lessons; the other sources "
            "are laid after DAMSTRA's, so a first page of 500 never reaches them.",
        ),
    )
    return Operation("Q3", "catalogue: 500 lessons x 5 fields", Q3, minimum)


def _trivial() -> Operation:
    minimum = Minimum(waves=(), reasoning=("`__typename` is answered by the schema alone.",))
    return Operation("Q4", "trivial: { __typename }", Q4, minimum)


def schedulable_pairs(world: World, exclude: set[int]) -> Iterator[tuple[int, int]]:
    """(DAMSTRA user id, lesson id) pairs the user holds no schedule for, each pair once.

    Active users from the end of the directory (away from the dashboard's group), one lesson for
    user after user before the next lesson: a new user each iteration, a lesson the cache soon holds."""
    state = world.damstra
    taken: dict[int, set[int]] = {}
    for schedule in state.schedules.values():
        taken.setdefault(schedule.user_id, set()).add(schedule.lesson_id)
    users = [
        uid
        for uid in sorted(state.users, reverse=True)
        if uid not in exclude and state.users[uid].client_status_id == STATUS_ACTIVE
    ]
    for lesson_id in sorted(lid for lid, lesson in state.lessons.items() if lesson.status == "active"):
        for uid in users:
            if lesson_id not in taken.get(uid, set()):
                yield uid, lesson_id


def _schedule_lessons(world: World, exclude: set[int]) -> Operation:
    run = secrets.token_hex(4)
    pairs = schedulable_pairs(world, exclude)

    def variables(n: int) -> dict[str, Any]:
        user_id, lesson_id = next(pairs)
        return {
            "input": {
                "userId": _gid("User", Source.DAMSTRA, user_id),
                "lessonIds": [_gid("Lesson", Source.DAMSTRA, lesson_id)],
                "gracePeriod": {"amount": 14, "unit": "DAYS"},
                "idempotencyKey": f"bench-{run}-{n}",
            }
        }

    minimum = Minimum(
        waves=(
            (Call("DAMSTRA GET /lesson", 1, cached=True, note="the lesson's version id (`lessonIds=`)"),),
            (Call("DAMSTRA POST /user/{id}/lesson_schedule", 1, note="`lessonVersionIds`"),),
            (Call("DAMSTRA GET /lesson_schedule/{id}", 1, note="the new schedule, read back"),),
        ),
        reasoning=(
            "DAMSTRA schedules lesson versions, so the lesson's version id is read first (a cached "
            "entity once read); the user's DAMSTRA id is in the global ID.",
            "One POST schedules it; DAMSTRA itself refuses a duplicate (409), so no read of the "
            "user's schedules is needed first.",
            "The contract's payloads are the changed objects read fresh (issue 4), so the new "
            "schedule is read back once: DAMSTRA's POST answers only its id.",
        ),
    )
    return Operation(
        "M1",
        "scheduleLessons: one lesson for one user (a new pair each iteration)",
        M1,
        minimum,
        variables=variables,
        mutation_field="scheduleLessons",
    )


def build_operations(world: World) -> list[Operation]:
    dashboard, person_view = _dashboard(world), _person_view(world)
    group = max(world.damstra.groups.values(), key=lambda g: (len(g.member_ids), -g.id))
    person = _fully_linked(world)
    exclude = {*group.member_ids, person.damstra_user_id or 0}
    return [
        dashboard,
        _caches_off(dashboard),
        person_view,
        _catalogue(world),
        _trivial(),
        _schedule_lessons(world, exclude),
    ]


CACHES_OFF = {"LEARNGRAPH_CROSS_REQUEST_CACHE": "false"}


def _caches_off(op: Operation) -> Operation:
    """`op` against a gateway with every cross-request cache off (issue 15's switch): the schedule
    cache stays empty, so each operation costs the gateway what a cold dashboard does."""
    return Operation(
        f"{op.key}c",
        f"{op.title}, cross-request caches off (LEARNGRAPH_CROSS_REQUEST_CACHE=false)",
        op.query,
        op.minimum,
        op.variables,
        op.mutation_field,
        env={**op.env, **CACHES_OFF},
        caches_off=True,
    )


def count_leaves(value: Any) -> int:
    """Resolved leaf fields in an answer: every scalar (null included) under `data`."""
    if isinstance(value, dict):
        return sum(count_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_leaves(v) for v in value)
    return 1
