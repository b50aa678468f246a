"""`lesson` and `lessons` across the four sources that serve them, checked against the sandbox world."""

from __future__ import annotations

import math

import pytest

from gateway.sources import Source
from sandbox.world import TrainSessionRow, World
from tests.conftest import ANCHOR, Gateway
from tests.ids import gid
from tests.resolvers.graph_support import walk

LESSONS = """query($first: Int, $after: String, $search: String, $source: Source, $status: [LessonStatus!]) {
  lessons(first: $first, after: $after, search: $search, source: $source, status: $status) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id source nativeId code name status durationSeconds version } } } }"""
LESSON = """query($id: ID!) {
  lesson(id: $id) { id source nativeId code name status durationSeconds version }
  node(id: $id) { __typename id } }"""
LL_PER_PAGE = 64  # LearningLogin's fixed `Per-Page`
STATUS = {"active": "ACTIVE", "inactive": "INACTIVE", "never": "NEVER_PUBLISHED", "rendering": "RENDERING"}
STATUS["error"] = "ERROR"


def damstra_lessons(world: World) -> list[dict[str, object]]:
    return [
        {
            "id": gid(f"Lesson:damstra:{lesson.lesson_id}"),
            "source": "DAMSTRA",
            "nativeId": str(lesson.lesson_id),
            "code": None,
            "name": lesson.name,
            "status": STATUS[lesson.status],
            "durationSeconds": lesson.duration_ms / 1000,
            "version": lesson.version,
        }
        for _, lesson in sorted(world.damstra.lessons.items())
    ]


def code_lessons(world: World, source: Source) -> list[dict[str, object]]:
    """Lessons the other sources name only by a code, as their records use them."""
    names: dict[str, str | None]
    if source is Source.LEARNINGLOGIN:
        names = {ts.course_code: None for ts in world.learninglogin.train_sessions.values()}
    elif source is Source.TRAINING_RECORDS:
        packages = world.training_records.packages
        names = {
            r.package_api_id: packages[r.package_api_id] for r in world.training_records.records.values()
        }
    else:
        names = {c.training_id: None for c in world.iscout.completions}
    return [
        {
            "id": gid(f"Lesson:{source.slug}:{code}"),
            "source": source.name,
            "nativeId": code,
            "code": code,
            "name": name,
            "status": None,
            "durationSeconds": None,
            "version": None,
        }
        for code, name in sorted(names.items())
    ]


def catalogue(world: World) -> list[dict[str, object]]:
    return damstra_lessons(world) + [
        lesson
        for source in (Source.LEARNINGLOGIN, Source.TRAINING_RECORDS, Source.ISCOUT)
        for lesson in code_lessons(world, source)
    ]


# -- lesson(id:) and node(id:) --------------------------------------------------------------------


@pytest.mark.parametrize("source", list(Source))
async def test_lesson_by_id_from_each_source(gateway: Gateway, source: Source) -> None:
    world = gateway.sandbox.world
    expected = damstra_lessons(world)[5] if source is Source.DAMSTRA else code_lessons(world, source)[1]
    data = await gateway.data(LESSON, {"id": expected["id"]})
    assert data == {"lesson": expected, "node": {"__typename": "Lesson", "id": expected["id"]}}


async def test_lesson_by_id_that_no_source_has(gateway: Gateway) -> None:
    for native in ("Lesson:damstra:9999", "Lesson:learninglogin:NOPE", "Lesson:training_records:PKG-999"):
        body = await gateway.query(LESSON, {"id": gid(native)})
        assert body["data"] == {"lesson": None, "node": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND", "NOT_FOUND"], native


async def test_lesson_by_id_of_an_iscout_training_nobody_completed(gateway: Gateway) -> None:
    body = await gateway.query(LESSON, {"id": gid("Lesson:iscout:000000000000000000000000")})
    assert body["data"]["lesson"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # A `limit: 1` look-up per field, the same one: sent once when the second finds the first in flight.
    sent = gateway.log(Source.ISCOUT).entries
    assert 1 <= len(sent) <= 2
    assert all(b'"limit":1,' in entry.body for entry in sent)


async def test_a_learninglogin_course_is_found_past_the_first_page_of_its_search(gateway: Gateway) -> None:
    # LearningLogin searches course codes and names together: "FA" also matches every
    # "Fall Protection" (FP) session, and a page of 64 of those can come before any FA one.
    sessions = gateway.sandbox.world.learninglogin.train_sessions
    template = next(ts for ts in sessions.values() if ts.course_code == "FP")
    for n in range(LL_PER_PAGE + 6):
        new_id = 10_000 + n
        sessions[new_id] = TrainSessionRow(
            new_id, template.login_id, "FP", "Fall Protection", "Assigned", 0, 0, 0, None, None,
            ANCHOR.date(), None, None,
        )  # fmt: skip
    data = await gateway.data(LESSON, {"id": gid("Lesson:learninglogin:FA")})
    assert data["lesson"]["code"] == "FA"


# -- lessons --------------------------------------------------------------------------------------


async def test_lessons_page_through_all_four_catalogues(gateway: Gateway) -> None:
    expected = catalogue(gateway.sandbox.world)
    nodes, pages = await walk(gateway, LESSONS, {"first": 9}, "lessons")
    assert nodes == expected
    assert pages == math.ceil(len(expected) / 9)
    assert {n["source"] for n in nodes} == {s.name for s in Source}
    data = await gateway.data(LESSONS, {"first": 1})
    assert data["lessons"]["totalCount"] == len(expected)


async def test_a_lessons_page_inside_damstra_reads_damstra_alone(gateway: Gateway) -> None:
    gateway.clear_logs()
    data = await gateway.data("{ lessons(first: 10) { pageInfo { hasNextPage } edges { node { name } } } }")
    assert data["lessons"]["pageInfo"]["hasNextPage"]
    assert [e.path for e in gateway.log(Source.DAMSTRA).entries] == ["/lesson"]
    assert all(not gateway.log(s).entries for s in Source if s is not Source.DAMSTRA)


@pytest.mark.parametrize("source", list(Source))
async def test_lessons_of_one_source(gateway: Gateway, source: Source) -> None:
    world = gateway.sandbox.world
    expected = damstra_lessons(world) if source is Source.DAMSTRA else code_lessons(world, source)
    gateway.clear_logs()
    nodes, _ = await walk(gateway, LESSONS, {"first": 1000, "source": source.name}, "lessons")
    assert nodes == expected
    assert all(not gateway.log(s).entries for s in Source if s is not source)
    if source is Source.LEARNINGLOGIN:
        # Course codes come from every train session: both upstream pages, once each.
        assert (
            gateway.log(source).count("GET")
            == math.ceil(len(world.learninglogin.train_sessions) / LL_PER_PAGE)
            > 1
        )


SEARCHES = [
    ("fire", {"1002"}),  # a DAMSTRA lesson name
    ("dangerous", {"TDG"}),  # a LearningLogin course *name*: the upstream searches names too
    ("whmis", {"WHMIS"}),  # a LearningLogin course code
    ("security", {"1008", "PKG-006", "PKG-007"}),  # DAMSTRA name and TRAINING_RECORDS package names
    ("pkg-01", {"PKG-010"}),  # a package id
]


async def test_lessons_search_each_catalogue(gateway: Gateway) -> None:
    for search, codes in SEARCHES:
        nodes, _ = await walk(gateway, LESSONS, {"first": 100, "search": search}, "lessons")
        assert {n["nativeId"] for n in nodes} == codes, search


async def test_lessons_search_an_iscout_training_id(gateway: Gateway) -> None:
    training = sorted({c.training_id for c in gateway.sandbox.world.iscout.completions})[3]
    nodes, _ = await walk(gateway, LESSONS, {"first": 100, "search": training[:10].upper()}, "lessons")
    assert [n["id"] for n in nodes] == [gid(f"Lesson:iscout:{training}")]


async def test_lessons_by_status_are_damstra_lessons_alone(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    wanted = {"inactive", "error", "rendering"}
    gateway.clear_logs()
    nodes, _ = await walk(
        gateway, LESSONS, {"first": 2, "status": ["INACTIVE", "ERROR", "RENDERING"]}, "lessons"
    )
    assert nodes == [
        lesson for lesson in damstra_lessons(world) if lesson["status"] in {STATUS[w] for w in wanted}
    ]
    assert all(not gateway.log(s).entries for s in Source if s is not Source.DAMSTRA)
    data = await gateway.data(LESSONS, {"source": "ISCOUT", "status": ["ACTIVE"]})
    assert data["lessons"]["edges"] == [] and data["lessons"]["totalCount"] == 0


async def test_lesson_ilt_sessions(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    lesson_id = world.damstra.ilt_sessions[400].lesson_id
    query = """query($id: ID!) { lesson(id: $id) { iltSessions(first: 100) { totalCount
        edges { node { id lesson { id } } } } } }"""
    data = await gateway.data(query, {"id": gid(f"Lesson:damstra:{lesson_id}")})
    sessions = data["lesson"]["iltSessions"]
    expected = sorted(s.id for s in world.damstra.ilt_sessions.values() if s.lesson_id == lesson_id)
    assert [e["node"]["id"] for e in sessions["edges"]] == [gid(f"ILTSession:damstra:{i}") for i in expected]
    assert sessions["totalCount"] == len(expected) > 1
    assert {e["node"]["lesson"]["id"] for e in sessions["edges"]} == {gid(f"Lesson:damstra:{lesson_id}")}
    data = await gateway.data(query, {"id": gid("Lesson:learninglogin:WHMIS")})
    assert data["lesson"]["iltSessions"] == {"totalCount": 0, "edges": []}


async def test_a_catalogue_page_is_read_once_for_the_lesson_ttl(gateway: Gateway) -> None:
    variables = {"first": 20, "source": "DAMSTRA"}
    first = await gateway.data(LESSONS, variables)
    gateway.clear_logs()
    again = await gateway.data(LESSONS, variables)
    assert again == first
    assert gateway.log(Source.DAMSTRA).count("GET", "/lesson") == 0
    # Another page, search or status is another entry.
    await gateway.data(LESSONS, {**variables, "search": "a"})
    assert gateway.log(Source.DAMSTRA).count("GET", "/lesson") == 1
    gateway.services.cache.clear()
    await gateway.data(LESSONS, variables)
    assert gateway.log(Source.DAMSTRA).count("GET", "/lesson") == 2
