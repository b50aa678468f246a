"""The graph over the training index, on SQLite and PostgreSQL: company-wide answers from the index equal
the live path's on the seeded sandbox, cost no upstream request, apply the access rules, say how fresh
they are (asOf), and fall back to the live path, saying so, until every source they need is LIVE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.data.callers import Caller, PersonRef, Role
from gateway.index.progress import UNATTRIBUTED
from gateway.index.rows import Kind, completion_from_learninglogin, schedule_from_learninglogin
from gateway.index.store import CompletionQuery, SyncStateName, TrainingIndex
from gateway.sources import Source
from resolvers.global_id import decode
from tests.conftest import Gateway
from tests.index.filling import fill_index, mark

SUPERVISOR = Caller("supervisor-key", Role.SUPERVISOR, PersonRef.parse("damstra:10000"))
TRAINEE = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("Bea.Walker27@Example.com"))

COMPLETIONS = """query($after: String, $source: Source) {
  completions(first: 15, after: $after, source: $source) {
    edges { cursor node { id source completedAt score passed expiresOn lesson { id } user { id } } }
    pageInfo { hasNextPage endCursor }
    asOf
  }
}"""

SCHEDULES = """query($status: [ScheduleStatus!], $group: ID, $before: Date, $after: Date, $cursor: String) {
  schedules(status: $status, groupId: $group, dueBefore: $before, dueAfter: $after, first: 40, after: $cursor) {
    edges { node { id source status dueDate completedAt lesson { id } } }
    pageInfo { hasNextPage endCursor }
    totalCount
    asOf
  }
}"""


@pytest.fixture
async def indexed(gateway: Gateway, index: TrainingIndex) -> AsyncIterator[Gateway]:
    """The gateway with a filled index, every source LIVE (the index is off until a test turns it on)."""
    # The sandbox seeds DAMSTRA's status words as of its world's anchor, weeks ago; a DAMSTRA running now
    # would say what the dates say today, which is what the index derives at read time.
    now = datetime.now(UTC)
    for schedule in gateway.sandbox.world.damstra.schedules.values():
        if schedule.status in ("scheduled", "due", "overdue"):
            ahead, late = schedule.start_date > now, schedule.end_date < now
            schedule.status = "scheduled" if ahead else "overdue" if late else "due"
    await fill_index(index, gateway.services.upstreams, gateway.services.directory)
    yield gateway
    gateway.services.index = None


def requests(gateway: Gateway) -> int:
    return sum(len(gateway.log(source).entries) for source in Source)


async def both_ways(
    gateway: Gateway, index: TrainingIndex, query: str, variables: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The answer read live, the answer from the index, and the upstream requests the latter made."""
    gateway.services.index = None
    live = await gateway.query(query, variables)
    gateway.services.index = index
    gateway.clear_logs()
    from_index = await gateway.query(query, variables)
    return live, from_index, requests(gateway)


def _without_users(edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A train session listed company-wide names no login, so live it is nobody's; the index knows whose.
    return [
        {**e["node"], "user": None} if e["node"]["source"] == "LEARNINGLOGIN" else e["node"] for e in edges
    ]


async def test_company_wide_completions_equal_live_with_no_upstream_request(
    indexed: Gateway, index: TrainingIndex
) -> None:
    after = None
    pages = 0
    while pages < 4:
        live, answer, sent = await both_ways(indexed, index, COMPLETIONS, {"after": after})
        assert "errors" not in live and "errors" not in answer, answer
        assert sent == 0
        assert answer["extensions"] == {"index": {"used": True}}
        assert "extensions" not in live
        got, want = answer["data"]["completions"], live["data"]["completions"]
        assert _without_users(got["edges"]) == _without_users(want["edges"])
        # The same keys; a live cursor also counts the iScout items read, which the index needs not.
        assert got["pageInfo"]["hasNextPage"] == want["pageInfo"]["hasNextPage"]
        assert got["asOf"] is not None and want["asOf"] is None
        assert len({e["node"]["source"] for e in got["edges"]}) >= 1
        if not got["pageInfo"]["hasNextPage"]:
            break
        # Either path's cursors page the other's list: the next page is asked with the live one.
        after = want["pageInfo"]["endCursor"]
        pages += 1
    assert pages >= 2


async def test_schedules_equal_live(indexed: Gateway, index: TrainingIndex) -> None:
    cases: list[dict[str, Any]] = [
        {"status": ["OVERDUE"]},
        {"status": ["DUE", "IN_PROGRESS", "ASSIGNED"]},
        {"status": ["COMPLETED"], "before": "2026-10-01"},
        {"after": "2026-11-15"},
        {},
    ]
    for variables in cases:
        live, answer, sent = await both_ways(indexed, index, SCHEDULES, variables)
        assert "errors" not in live and "errors" not in answer, (variables, answer)
        assert sent == 0, variables
        got, want = answer["data"]["schedules"], live["data"]["schedules"]
        assert got["edges"] == want["edges"], variables
        assert got["totalCount"] == want["totalCount"], variables
        assert got["pageInfo"]["hasNextPage"] == want["pageInfo"]["hasNextPage"]
    assert want["totalCount"] > 40  # the last case, every schedule: more than a page


async def test_a_groups_overdue_count_and_schedules(indexed: Gateway, index: TrainingIndex) -> None:
    groups = (await indexed.data("{ groups(first: 50) { edges { node { id } } } }"))["groups"]["edges"]
    query = "query($id: ID!) { group(id: $id) { overdueCount } }"
    counts = []
    for edge in groups[:6]:
        variables = {"id": edge["node"]["id"]}
        live, answer, _ = await both_ways(indexed, index, query, variables)
        assert answer["data"] == live["data"]
        counts.append(answer["data"]["group"]["overdueCount"])
        live, answer, sent = await both_ways(
            indexed, index, SCHEDULES, {"group": edge["node"]["id"], "status": ["OVERDUE"]}
        )
        assert answer["data"] == {
            **live["data"],
            "schedules": {**live["data"]["schedules"], "asOf": answer["data"]["schedules"]["asOf"]},
        }
        assert sent == 0
    assert any(counts)


async def test_users_total_count(indexed: Gateway, index: TrainingIndex) -> None:
    query = "query($all: Boolean) { users(first: 5, includeInactive: $all) { totalCount asOf } }"
    for include_inactive in (False, True):
        live, answer, _ = await both_ways(indexed, index, query, {"all": include_inactive})
        assert answer["data"]["users"]["totalCount"] == live["data"]["users"]["totalCount"]
        assert answer["data"]["users"]["asOf"] is not None


@pytest.mark.parametrize("caller", [SUPERVISOR, TRAINEE], ids=["supervisor", "trainee"])
async def test_access_rules_apply_to_index_answers(
    indexed: Gateway, index: TrainingIndex, caller: Caller
) -> None:
    async with indexed.as_caller(caller) as gateway:
        for query, key in ((COMPLETIONS, "completions"), (SCHEDULES, "schedules")):
            live, answer, _ = await both_ways(gateway, index, query, {})
            assert "errors" not in answer, answer
            got = answer["data"][key]["edges"]
            want = live["data"][key]["edges"]
            if key == "completions":
                got, want = _without_users(got), _without_users(want)
            else:
                got, want = [e["node"] for e in got], [e["node"] for e in want]
            assert got == want
            assert answer["extensions"] == {"index": {"used": True}}
        # Fewer than an ADMIN sees: the rules cut the index's rows as they cut live ones.
        mine = await gateway.data("{ schedules(first: 1000) { totalCount } }")
    everyone = await indexed.data("{ schedules(first: 1000) { totalCount } }")
    assert 0 < mine["schedules"]["totalCount"] < everyone["schedules"]["totalCount"]


async def test_a_trainee_sees_only_their_own_completions(indexed: Gateway, index: TrainingIndex) -> None:
    indexed.services.index = index
    async with indexed.as_caller(TRAINEE) as gateway:
        answer = await gateway.data("{ completions(first: 100) { edges { node { user { email } } } } }")
    emails = {e["node"]["user"]["email"].lower() for e in answer["completions"]["edges"]}
    assert emails == {"bea.walker27@example.com"}


async def test_until_a_source_is_live_the_live_path_answers_and_says_so(
    indexed: Gateway, index: TrainingIndex
) -> None:
    await mark(index, Source.DAMSTRA, SyncStateName.BACKFILLING)
    indexed.services.index = index
    indexed.clear_logs()
    answer = await indexed.query(COMPLETIONS, {})
    assert answer["extensions"] == {"index": {"used": False, "reason": "DAMSTRA BACKFILLING"}}
    assert answer["data"]["completions"]["asOf"] is None
    assert requests(indexed) > 0
    # A question that needs only a source that is LIVE still comes from the index.
    indexed.clear_logs()
    only = await indexed.query(COMPLETIONS, {"source": "ISCOUT"})
    assert only["extensions"] == {"index": {"used": True}} and requests(indexed) == 0
    await mark(index, Source.ISCOUT, SyncStateName.FAILING)
    failing = await indexed.query(COMPLETIONS, {"source": "ISCOUT"})
    assert failing["extensions"] == {"index": {"used": False, "reason": "ISCOUT FAILING"}}


async def test_without_an_index_nothing_is_said(gateway: Gateway) -> None:
    answer = await gateway.query(COMPLETIONS, {})
    assert "extensions" not in answer and answer["data"]["completions"]["asOf"] is None


async def test_as_of_is_the_oldest_confirmation_on_the_page(indexed: Gateway, index: TrainingIndex) -> None:
    indexed.services.index = index
    edges = (await indexed.data(COMPLETIONS, {}))["completions"]["edges"]
    newest = decode(edges[0]["node"]["id"], "Completion")
    row = await index.get(Kind.COMPLETIONS, newest.source, newest.native_id)
    assert row is not None
    earlier = datetime.now(UTC) - timedelta(hours=5)
    await index.upsert([row], confirmed_at=earlier)
    again = (await indexed.data(COMPLETIONS, {}))["completions"]["asOf"]
    assert abs(datetime.fromisoformat(again) - earlier) < timedelta(milliseconds=1)
    # A page without that row is as fresh as its own rows.
    after = (await indexed.data(COMPLETIONS, {"after": edges[0]["cursor"]}))["completions"]["asOf"]
    assert datetime.fromisoformat(after) > earlier + timedelta(hours=4)


FILTERED = """query($source: Source, $lesson: ID, $after: Date, $before: Date, $expiring: Date,
                    $expiringAfter: Date, $score: Float) {
  completions(first: 25, source: $source, lessonId: $lesson, completedAfter: $after, completedBefore: $before,
              expiringBefore: $expiring, expiringAfter: $expiringAfter, score: $score) {
    edges { node { id source completedAt expiresOn score lesson { id } } }
    pageInfo { hasNextPage }
  }
}"""


async def test_completion_filters_equal_live(indexed: Gateway, index: TrainingIndex) -> None:
    some = (await indexed.data(FILTERED, {"source": "ISCOUT"}))["completions"]["edges"]
    lesson = some[0]["node"]["lesson"]["id"]
    scored = (await indexed.data(FILTERED, {"source": "LEARNINGLOGIN"}))["completions"]["edges"]
    score = next(edge["node"]["score"] for edge in scored if edge["node"]["score"] is not None)
    cases: list[dict[str, Any]] = [
        {"source": "LEARNINGLOGIN"},
        {"source": "DAMSTRA", "after": "2026-09-01"},
        {"lesson": lesson},
        {"after": "2026-06-01", "before": "2026-08-31"},
        {"expiring": "2027-06-01"},
        {"expiringAfter": "2026-06-01"},
        {"score": score},
    ]
    answered = 0
    for variables in cases:
        live, answer, sent = await both_ways(indexed, index, FILTERED, variables)
        assert "errors" not in answer, (variables, answer)
        assert answer["data"] == live["data"], variables
        assert sent == 0 and answer["extensions"] == {"index": {"used": True}}
        answered += bool(answer["data"]["completions"]["edges"])
    assert answered >= 6  # the filters leave something to compare


async def test_sessions_of_no_linked_login_are_nobodys_and_narrowed_questions_stay_indexed(
    indexed: Gateway, index: TrainingIndex
) -> None:
    # A session of a login the identity file links to nobody: a full pass leaves it without a login.
    rows = await index.completions_page(None, CompletionQuery(source=Source.LEARNINGLOGIN), first=1)
    stray = rows.rows[0].record().model_copy(update={"id": 9_999_003})
    await index.upsert([schedule_from_learninglogin(stray, None)])
    await index.upsert([r for r in [completion_from_learninglogin(stray, None)] if r])
    indexed.services.index = index
    group = (await indexed.data("{ groups(first: 1) { edges { node { id } } } }"))["groups"]["edges"][0][
        "node"
    ]
    query = "query($id: ID!) { group(id: $id) { overdueCount } }"
    assert (await indexed.query(query, {"id": group["id"]}))["extensions"] == {"index": {"used": True}}
    async with indexed.as_caller(SUPERVISOR) as gateway:
        _, answer, sent = await both_ways(gateway, index, COMPLETIONS, {})
        assert answer["extensions"] == {"index": {"used": True}} and sent == 0
        assert "Q29tcGxldGlvbjpsZWFybmluZ2xvZ2luOjk5OTkwMDM=" not in str(answer["data"])
    # ADMIN's company-wide answer holds it, as the live company-wide list does.
    everyone = await indexed.data(
        "{ completions(first: 100, source: LEARNINGLOGIN) { edges { node { id } } } }"
    )
    assert "Q29tcGxldGlvbjpsZWFybmluZ2xvZ2luOjk5OTkwMDM=" in str(everyone)


async def test_sessions_awaiting_their_login_send_narrowed_questions_live(
    indexed: Gateway, index: TrainingIndex
) -> None:
    # An incremental poll found a session new to the index: until the next full pass, it is nobody's
    # in the index though it may be someone's live.
    state = await index.get_sync_state(Source.LEARNINGLOGIN)
    assert state is not None
    cursor = {**state.cursor, "extra": {UNATTRIBUTED: ["9999004"]}}
    await index.put_sync_state(replace(state, cursor=cursor))
    indexed.services.index = index
    group = (await indexed.data("{ groups(first: 1) { edges { node { id } } } }"))["groups"]["edges"][0][
        "node"
    ]
    narrowed = await indexed.query("query($id: ID!) { group(id: $id) { overdueCount } }", {"id": group["id"]})
    assert narrowed["extensions"] == {"index": {"used": False, "reason": "LEARNINGLOGIN UNATTRIBUTED"}}
    async with indexed.as_caller(SUPERVISOR) as gateway:
        live, answer, _ = await both_ways(gateway, index, COMPLETIONS, {})
        assert answer["extensions"] == {"index": {"used": False, "reason": "LEARNINGLOGIN UNATTRIBUTED"}}
        assert answer["data"] == live["data"]
        # A question that does not need LearningLogin is still the index's.
        only = await gateway.query(COMPLETIONS, {"source": "ISCOUT"})
        assert only["extensions"] == {"index": {"used": True}}
    # Everyone's, for ADMIN, is still the index's: the session is in it.
    everyone = await indexed.query(COMPLETIONS, {})
    assert everyone["extensions"] == {"index": {"used": True}}
