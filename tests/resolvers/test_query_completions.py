"""`completions` (and `User.completions`, `node` on a Completion): four sources merged newest first,
filtered, and paged with keyset cursors, checked against the sandbox world."""

from __future__ import annotations

import math
from datetime import date

import orjson
import pytest

from gateway.sources import Source
from sandbox.world import IScoutCompletionRow, SeededPerson, World
from tests.conftest import ANCHOR, Gateway
from tests.ids import gid, native_id, user_id
from tests.resolvers.graph_support import Done, iso, walk, world_completions

COMPLETIONS = """query($first: Int, $after: String, $userId: ID, $lessonId: ID, $source: Source,
    $completedAfter: Date, $completedBefore: Date, $expiringBefore: Date) {
  completions(first: $first, after: $after, userId: $userId, lessonId: $lessonId, source: $source,
              completedAfter: $completedAfter, completedBefore: $completedBefore,
              expiringBefore: $expiringBefore) {
    pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id source completedAt expiresOn } } } }"""
ISCOUT_PAGE = 100  # what the merge asks iScout for at a time


def owned_by(world: World, person: SeededPerson) -> set[tuple[Source, str]]:
    accounts = {
        (Source.DAMSTRA, person.damstra_user_id),
        (Source.LEARNINGLOGIN, person.learninglogin_login_id),
        (Source.TRAINING_RECORDS, person.training_records_person_api_id),
        (Source.ISCOUT, person.iscout_user_id),
    }
    return {(source, str(native)) for source, native in accounts if native is not None}


def ids(done: list[Done]) -> set[str]:
    return {d.id for d in done}


def assert_newest_first(nodes: list[dict[str, str]]) -> None:
    times = [n["completedAt"] for n in nodes]
    assert times == sorted(times, reverse=True)
    assert len({n["id"] for n in nodes}) == len(nodes), "an item repeated across pages"


# -- the merged stream ----------------------------------------------------------------------------


async def test_every_completion_of_every_source_once_newest_first_across_pages(gateway: Gateway) -> None:
    truth = world_completions(gateway.sandbox.world)
    whole = (await gateway.data(COMPLETIONS, {"first": 1000}))["completions"]
    assert not whole["pageInfo"]["hasNextPage"]
    every = [e["node"] for e in whole["edges"]]
    assert {n["id"] for n in every} == ids(truth)
    assert_newest_first(every)
    assert {n["source"] for n in every} == {s.name for s in Source}
    # Pages of 57 cross iScout's pages of 100 and LearningLogin's of 64, and ties on one day.
    assert sum(d.source == "ISCOUT" for d in truth) > ISCOUT_PAGE
    paged, pages = await walk(gateway, COMPLETIONS, {"first": 57}, "completions")
    assert paged == every
    assert pages == math.ceil(len(truth) / 57)


async def test_the_fields_of_each_sources_completions(gateway: Gateway) -> None:
    truth = {d.id: d for d in world_completions(gateway.sandbox.world)}
    whole = (await gateway.data(COMPLETIONS, {"first": 1000}))["completions"]["edges"]
    for edge in whole:
        node, done = edge["node"], truth[edge["node"]["id"]]
        assert (node["source"], node["completedAt"]) == (done.source, iso(done.completed_at))
        assert node["expiresOn"] == (done.expires_on.isoformat() if done.expires_on else None)
    assert any(e["node"]["expiresOn"] for e in whole if e["node"]["source"] == "LEARNINGLOGIN")
    assert any(e["node"]["expiresOn"] for e in whole if e["node"]["source"] == "ISCOUT")


@pytest.mark.parametrize("source", list(Source))
async def test_completions_of_one_source(gateway: Gateway, source: Source) -> None:
    truth = [d for d in world_completions(gateway.sandbox.world) if d.source == source.name]
    gateway.clear_logs()
    nodes, _ = await walk(gateway, COMPLETIONS, {"first": 40, "source": source.name}, "completions")
    assert {n["id"] for n in nodes} == ids(truth)
    assert_newest_first(nodes)
    assert all(not gateway.log(s).entries for s in Source if s is not source)


async def test_completed_after_and_before_are_inclusive_utc_days(gateway: Gateway) -> None:
    truth = world_completions(gateway.sandbox.world)
    # Both edges are days with completions: iScout's at midnight on the first, and a DAMSTRA or
    # training-record one late in the day on the last, so an off-by-one at either end shows.
    anchor = ANCHOR.date()
    after = min(
        (d.completed_day for d in truth if d.source == "ISCOUT"),
        key=lambda day: abs((anchor - day).days - 300),
    )
    before = min(
        (d for d in truth if d.source in ("DAMSTRA", "TRAINING_RECORDS") and d.completed_at.hour >= 12),
        key=lambda d: abs((anchor - d.completed_day).days - 100),
    ).completed_day
    nodes, _ = await walk(
        gateway,
        COMPLETIONS,
        {"first": 25, "completedAfter": str(after), "completedBefore": str(before)},
        "completions",
    )
    expected = [d for d in truth if after <= d.completed_day <= before]
    assert {after, before} <= {d.completed_day for d in expected}
    assert {n["id"] for n in nodes} == ids(expected)
    assert {d.source for d in expected} == {s.name for s in Source}
    assert_newest_first(nodes)


async def test_expiring_before_asks_only_the_sources_that_have_expiry_dates(gateway: Gateway) -> None:
    truth = world_completions(gateway.sandbox.world)
    cutoff = date(2027, 1, 1)
    gateway.clear_logs()
    nodes, pages = await walk(
        gateway, COMPLETIONS, {"first": 25, "expiringBefore": str(cutoff)}, "completions"
    )
    expected = [d for d in truth if d.expires_on is not None and d.expires_on < cutoff]
    assert {n["id"] for n in nodes} == ids(expected)
    assert_newest_first(nodes)
    assert all(n["expiresOn"] < str(cutoff) for n in nodes)
    # DAMSTRA schedules and training records carry no expiry: nothing to read there.
    assert not gateway.log(Source.DAMSTRA).entries
    assert not gateway.log(Source.TRAINING_RECORDS).entries
    assert gateway.log(Source.LEARNINGLOGIN).count("GET") == pages  # completed sessions fit one page


@pytest.mark.parametrize("source", list(Source))
async def test_completions_of_one_lesson(gateway: Gateway, source: Source) -> None:
    truth = [d for d in world_completions(gateway.sandbox.world) if d.source == source.name]
    counts: dict[str, int] = {}
    for d in truth:
        counts[d.lesson] = counts.get(d.lesson, 0) + 1
    lesson = max(counts, key=lambda k: (counts[k], k))
    gateway.clear_logs()
    nodes, _ = await walk(gateway, COMPLETIONS, {"first": 3, "lessonId": lesson}, "completions")
    assert {n["id"] for n in nodes} == {d.id for d in truth if d.lesson == lesson}
    assert len(nodes) == counts[lesson] > 1
    assert all(not gateway.log(s).entries for s in Source if s is not source)
    other = next(s for s in Source if s is not source)
    data = await gateway.data(COMPLETIONS, {"lessonId": lesson, "source": other.name})
    assert data["completions"]["edges"] == []


async def test_a_persons_completions_across_their_accounts(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    person = world.people[0]
    mine = [d for d in world_completions(world) if d.owner in owned_by(world, person)]
    assert {d.source for d in mine} == {s.name for s in Source}
    gateway.clear_logs()
    nodes, pages = await walk(
        gateway, COMPLETIONS, {"first": 4, "userId": user_id("iscout", person.iscout_user_id)}, "completions"
    )
    assert {n["id"] for n in nodes} == ids(mine)
    assert_newest_first(nodes)
    # The person once, their whole DAMSTRA schedule list once, their LearningLogin sessions by username
    # once, every training record once (each then from the cross-request cache); iScout by user each page.
    assert pages > 1
    damstra = f"/user/{person.damstra_user_id}"
    assert gateway.log(Source.DAMSTRA).paths() == [
        f"GET {damstra}",
        f"GET {damstra}/lesson_schedule?startIndex=0&maxResults=100&status=all",
    ]
    assert gateway.log(Source.LEARNINGLOGIN).count("GET") == 1
    assert gateway.log(Source.TRAINING_RECORDS).count("GET") == 1
    assert gateway.log(Source.ISCOUT).count("POST") == pages

    query = """query($id: ID!, $after: String, $source: Source, $completedAfter: Date) { user(id: $id) {
        completions(first: 3, after: $after, source: $source, completedAfter: $completedAfter) {
          pageInfo { hasNextPage endCursor } edges { node { id source completedAt } } } } }"""
    on_user, _ = await walk(
        gateway, query, {"id": user_id("damstra", person.damstra_user_id)}, "user.completions"
    )
    assert on_user == [{k: n[k] for k in ("id", "source", "completedAt")} for n in nodes]
    for source in Source:
        variables = {"id": user_id("damstra", person.damstra_user_id), "source": source.name}
        only, _ = await walk(gateway, query, variables, "user.completions")
        assert {n["id"] for n in only} == {d.id for d in mine if d.source == source.name}, source
    since = sorted(d.completed_day for d in mine)[len(mine) // 2]
    variables = {"id": user_id("damstra", person.damstra_user_id), "completedAfter": str(since)}
    recent, _ = await walk(gateway, query, variables, "user.completions")
    assert {n["id"] for n in recent} == {d.id for d in mine if d.completed_day >= since}


# -- iScout paging inside the merge ---------------------------------------------------------------


def iscout_pages_per_answer(world: World, first: int) -> list[list[int]]:
    """Which iScout pages each answer of `completions(source: ISCOUT, first: ...)` must read: from the
    page holding the start of the day of the last item already shown (iScout orders a day's
    completions loosely) to the page holding the item after this answer's last (is there a next page?)."""
    order = sorted(world.iscout.completions, key=lambda c: (c.date_number, c.created_ms), reverse=True)
    day_start: dict[int, int] = {}
    for n, c in enumerate(order):
        day_start.setdefault(c.date_number, n)
    answers = []
    for start in range(0, len(order), first):
        resume = day_start[order[start - 1].date_number] if start else 0
        last = min(start + first, len(order) - 1)  # one more is read to know whether a next page exists
        answers.append(list(range(resume // ISCOUT_PAGE + 1, last // ISCOUT_PAGE + 2)))
    return answers


async def test_iscout_is_read_only_as_far_as_each_page_of_answers_needs(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    expected = iscout_pages_per_answer(world, 30)
    assert [2] in expected and [1, 2] in expected  # the walk crosses iScout's page boundary
    read: list[list[int]] = []
    after = None
    while True:
        gateway.clear_logs()
        data = await gateway.data(COMPLETIONS, {"first": 30, "source": "ISCOUT", "after": after})
        bodies = [orjson.loads(e.body) for e in gateway.log(Source.ISCOUT).entries]
        assert {b["limit"] for b in bodies} == {ISCOUT_PAGE}
        read.append([b["page"] for b in bodies])
        if not data["completions"]["pageInfo"]["hasNextPage"]:
            break
        after = data["completions"]["pageInfo"]["endCursor"]
    assert read == expected


async def test_an_iscout_completion_keeps_its_created_milliseconds_in_its_id(gateway: Gateway) -> None:
    # 1078625331860 ms is 2004-03-07T02:08:51.860Z, which a float round trip reads back as ...859.9999.
    world = gateway.sandbox.world
    person = world.people[0]
    assert person.iscout_user_id is not None
    training = world.iscout.completions[0].training_id
    world.iscout.completions.append(
        IScoutCompletionRow(person.iscout_user_id, training, 1_078_625_331_860, 20040307, None, None, None)
    )
    expected = gid(f"Completion:iscout:{person.iscout_user_id}:{training}:1078625331860")
    data = await gateway.data(COMPLETIONS, {"first": 1, "completedBefore": "2004-12-31"})
    assert [e["node"]["id"] for e in data["completions"]["edges"]] == [expected]
    data = await gateway.data(
        "query($id: ID!) { node(id: $id) { id ... on Completion { completedAt } } }", {"id": expected}
    )
    assert data["node"] == {"id": expected, "completedAt": "2004-03-07T00:00:00Z"}


# -- node(id:) on a Completion --------------------------------------------------------------------

COMPLETION = """query($id: ID!) { node(id: $id) { __typename ... on Completion { id source completedAt
    expiresOn score passed user { id } lesson { id } instructor { id } schedule { id status } } } }"""


@pytest.mark.parametrize("source", list(Source))
async def test_a_completion_by_id_from_each_source(gateway: Gateway, source: Source) -> None:
    world = gateway.sandbox.world
    person = world.people[0]
    done = next(
        d for d in world_completions(world) if d.source == source.name and d.owner in owned_by(world, person)
    )
    data = await gateway.data(COMPLETION, {"id": done.id})
    node = data["node"]
    assert node["__typename"] == "Completion"
    assert (node["id"], node["source"], node["completedAt"]) == (done.id, source.name, iso(done.completed_at))
    assert node["expiresOn"] == (done.expires_on.isoformat() if done.expires_on else None)
    assert node["lesson"] == {"id": done.lesson}
    native = native_id(done.id)
    if source is Source.LEARNINGLOGIN:
        # Looked up alone, a train session names no login (see the schedule test); its score does show.
        session = world.learninglogin.train_sessions[int(native)]
        assert node["user"] is None and node["score"] == float(session.score)
    else:
        assert node["user"] == {"id": user_id("damstra", person.damstra_user_id)}
    if source is Source.ISCOUT:
        assert node["schedule"] is None
    else:
        assert node["schedule"] == {"id": gid(f"Schedule:{source.slug}:{native}"), "status": "COMPLETED"}


async def test_a_completion_by_id_that_does_not_exist(gateway: Gateway) -> None:
    for native in (
        "Completion:damstra:999999",
        "Completion:learninglogin:999999",
        "Completion:training_records:rec-99999",
        "Completion:iscout:269e0d37f2a74de452e6b438:000000000000000000000000:1",
    ):
        body = await gateway.query(COMPLETION, {"id": gid(native)})
        assert body["data"] == {"node": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"], native


async def test_an_open_schedule_is_no_completion(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    open_one = next(s for s in world.damstra.schedules.values() if s.status == "due")
    body = await gateway.query(COMPLETION, {"id": gid(f"Completion:damstra:{open_one.id}")})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    record = next(r for r in world.training_records.records.values() if r.date_completed is None)
    body = await gateway.query(COMPLETION, {"id": gid(f"Completion:training_records:{record.api_id}")})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
