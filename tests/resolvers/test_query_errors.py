"""Partial failure per source and bad input, on every Query field (docs/contract.md §7)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import pytest

from gateway.sources import Source
from sandbox.world import World
from tests.conftest import Gateway
from tests.ids import gid, user_id
from tests.resolvers.graph_support import world_completions

EVERYTHING = """query($id: ID!) {
  lessons(first: 1000) { totalCount edges { node { source } } }
  completions(first: 1000) { edges { node { source } } }
  users(first: 1000) { edges { node { id } } }
  groups(first: 1000) { totalCount }
  iltSessions(first: 1000) { totalCount }
  person: user(id: $id) { fullName
    schedules(first: 1000) { edges { node { source } } }
    completions(first: 1000) { edges { node { source } } } } }"""


def lesson_counts(world: World) -> Counter[str]:
    return Counter(
        {
            "DAMSTRA": len(world.damstra.lessons),
            "LEARNINGLOGIN": len({t.course_code for t in world.learninglogin.train_sessions.values()}),
            "TRAINING_RECORDS": len({r.package_api_id for r in world.training_records.records.values()}),
            "ISCOUT": len({c.training_id for c in world.iscout.completions}),
        }
    )


def errors_by_field(body: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for error in body.get("errors", []):
        key = ".".join(str(p) for p in error["path"])
        found.setdefault(key, set()).add((error["extensions"]["code"], error["extensions"]["source"]))
    return found


@pytest.mark.parametrize("failing", list(Source))
async def test_one_source_down_nulls_only_what_it_serves(gateway: Gateway, failing: Source) -> None:
    world = gateway.sandbox.world
    person = world.people[0]
    gateway.sandbox.controls[failing].faults.error_rate = 1.0
    # Through an account the failing source does not hold, where there is one.
    via = (
        user_id("iscout", person.iscout_user_id)
        if failing is not Source.ISCOUT
        else user_id("damstra", 10_000)
    )
    body = await gateway.query(EVERYTHING, {"id": via})
    data, down = body["data"], {(("UPSTREAM_UNAVAILABLE", failing.name))}
    assert "sandbox-" not in str(body)  # no credential in any message

    lessons = Counter(e["node"]["source"] for e in data["lessons"]["edges"])
    assert lessons == Counter({s: n for s, n in lesson_counts(world).items() if s != failing.name})
    assert data["lessons"]["totalCount"] is None  # unknown while a source is down
    completions = Counter(e["node"]["source"] for e in data["completions"]["edges"])
    expected = Counter(d.source for d in world_completions(world) if d.source != failing.name)
    assert completions == expected
    errors = errors_by_field(body)
    assert errors.pop("lessons") == errors.pop("completions") == down

    if failing is Source.DAMSTRA:
        # Groups, sessions and the people's directory are DAMSTRA's (lists answer empty, counts
        # unknown); so is this person's ID.
        assert data["groups"] == data["iltSessions"] == {"totalCount": None}
        assert data["users"] == {"edges": []} and data["person"] is None
        assert errors == {"users": down, "groups": down, "iltSessions": down, "person": down}
        return
    assert data["groups"]["totalCount"] == len(world.damstra.groups)
    assert data["iltSessions"]["totalCount"] == len(world.damstra.ilt_sessions)
    assert len(data["users"]["edges"]) == 48
    assert data["person"]["fullName"] == person.full_name
    schedules = {e["node"]["source"] for e in data["person"]["schedules"]["edges"]}
    assert schedules == {"DAMSTRA", "LEARNINGLOGIN", "TRAINING_RECORDS"} - {failing.name}
    mine = {e["node"]["source"] for e in data["person"]["completions"]["edges"]}
    assert mine == {s.name for s in Source} - {failing.name}
    assert errors.pop("person.completions") == down
    if failing is not Source.ISCOUT:  # iScout holds no schedules
        assert errors.pop("person.schedules") == down
    assert errors == {}


async def test_a_failure_is_reported_once_per_field_however_many_people_it_touches(gateway: Gateway) -> None:
    gateway.sandbox.controls[Source.DAMSTRA].faults.error_rate = 1.0
    body = await gateway.query("{ users(first: 100) { edges { node { id } } } }")
    assert body["data"] == {"users": {"edges": []}}
    # the DAMSTRA listing, and the look-ups linking identity-file people to DAMSTRA: one error each
    assert [(e["path"], e["extensions"]["source"]) for e in body["errors"]] == [(["users"], "DAMSTRA")] * 2


# -- bad input ------------------------------------------------------------------------------------

NOT_AN_ID = "not-an-id"
UNSAFE = [
    gid("User:damstra:../../admin"),
    gid("Group:damstra:200?x=1"),
    gid("Lesson:training_records:a/b"),
    gid("Schedule:training_records:.."),
    gid("ILTSession:damstra:4%2F00"),
    gid("Completion:iscout:a/b:c:1"),
]
ID_FIELDS = [
    "{ node(id: $id) { id } }",
    "{ user(id: $id) { id } }",
    "{ group(id: $id) { id } }",
    "{ lesson(id: $id) { id } }",
    "{ schedule(id: $id) { id } }",
    "{ iltSession(id: $id) { id } }",
    "{ completions(userId: $id) { edges { cursor } } }",
    "{ completions(lessonId: $id) { edges { cursor } } }",
    "{ iltSessions(lessonId: $id) { edges { cursor } } }",
    "{ iltSessions(instructorId: $id) { edges { cursor } } }",
]


async def test_ids_that_are_not_learngraph_ids(gateway: Gateway) -> None:
    for field in ID_FIELDS:
        for raw in (NOT_AN_ID, gid("User:nowhere:1"), gid("User:damstra:")):
            body = await gateway.query("query($id: ID!) " + field, {"id": raw})
            assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_ID"], (field, raw)
    assert all(not gateway.log(s).entries for s in Source)


WRONG_TYPE = [
    ("{ user(id: $id) { id } }", gid("Group:damstra:200")),
    ("{ group(id: $id) { id } }", gid("User:damstra:10000")),
    ("{ lesson(id: $id) { id } }", gid("Schedule:damstra:70001")),
    ("{ schedule(id: $id) { id } }", gid("Completion:damstra:70001")),
    ("{ iltSession(id: $id) { id } }", gid("Lesson:damstra:1003")),
    ("{ completions(userId: $id) { edges { cursor } } }", gid("Lesson:damstra:1003")),
    ("{ completions(lessonId: $id) { edges { cursor } } }", gid("User:damstra:10000")),
    ("{ iltSessions(lessonId: $id) { edges { cursor } } }", gid("Group:damstra:200")),
    ("{ iltSessions(instructorId: $id) { edges { cursor } } }", gid("Group:damstra:200")),
]


async def test_an_id_of_another_type(gateway: Gateway) -> None:
    for field, wrong in WRONG_TYPE:
        body = await gateway.query("query($id: ID!) " + field, {"id": wrong})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_ID"], field
        assert " ID, not a " in body["errors"][0]["message"]
    assert all(not gateway.log(s).entries for s in Source)


async def test_native_ids_that_could_steer_a_request_never_leave(gateway: Gateway) -> None:
    fields = " ".join(f'f{n}: node(id: "{raw}") {{ id }}' for n, raw in enumerate(UNSAFE))
    gateway.clear_logs()
    body = await gateway.query(f"{{ {fields} }}")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_ID"] * len(UNSAFE)
    assert all(not gateway.log(s).entries for s in Source)


ISCOUT_CURSOR = "{ completions(first: 1, source: ISCOUT) { edges { cursor } } }"
PAGED = [
    "users(first: $first, after: $after) { edges { cursor } }",
    "groups(first: $first, after: $after) { edges { cursor } }",
    "lessons(first: $first, after: $after) { edges { cursor } }",
    "iltSessions(first: $first, after: $after) { edges { cursor } }",
    "completions(first: $first, after: $after) { edges { cursor } }",
    'user(id: "VXNlcjpkYW1zdHJhOjEwMDAw") { schedules(first: $first, after: $after) { edges { cursor } } }',
    'user(id: "VXNlcjpkYW1zdHJhOjEwMDAw") { completions(first: $first, after: $after) { edges { cursor } } }',
    'group(id: "R3JvdXA6ZGFtc3RyYToyMDA=") { members(first: $first, after: $after) { edges { cursor } } }',
    'lesson(id: "TGVzc29uOmRhbXN0cmE6MTAwMw==") { iltSessions(first: $first, after: $after) { edges { cursor } } }',
]


async def test_paging_arguments_out_of_range_or_from_another_list(gateway: Gateway) -> None:
    keyset_cursor = (await gateway.data(ISCOUT_CURSOR))["completions"]["edges"][0]["cursor"]
    offset_cursor = (await gateway.data("{ groups(first: 1) { edges { cursor } } }"))["groups"]["edges"][0][
        "cursor"
    ]
    for field in PAGED:
        query = f"query($first: Int, $after: String) {{ {field} }}"
        # The merged completions take keyset cursors; every other list takes offsets.
        foreign = offset_cursor if "completions" in field else keyset_cursor
        for variables in ({"first": -1}, {"first": 1001}, {"after": "garbage"}, {"after": foreign}):
            body = await gateway.query(query, variables)
            assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (field, variables)


# Cursors of the right shape pointing further than any list reaches: offset 1e20 (once sent upstream as
# `startIndex=100000000000000000000`) or 2**31 - 1, and keyset cursors whose iScout count is past 2**31 or negative.
FAR_OFFSETS = [base64.b64encode(f"offset:{n}".encode()).decode() for n in (10**20, 2**31 - 1)]
FAR_KEYSETS = [
    base64.urlsafe_b64encode(b"completions:" + json.dumps({"k": [-1.7e9, 0, "1"], "i": i}).encode()).decode()
    for i in (10**20, 2**31, -100)
]
FAR_MARKS = ("100000000000000000000", "2147483648", '"page":0', '"page":-')


async def test_a_cursor_past_what_a_list_can_hold_is_bad_input_and_never_sent(gateway: Gateway) -> None:
    for field in PAGED:
        query = f"query($first: Int, $after: String) {{ {field} }}"
        for cursor in FAR_KEYSETS if "completions(" in field else FAR_OFFSETS:
            gateway.clear_logs()
            body = await gateway.query(query, {"first": 5, "after": cursor})
            assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (field, cursor)
            sent = [f"{e.query} {e.body.decode()}" for s in Source for e in gateway.log(s).entries]
            assert not [line for line in sent if any(mark in line for mark in FAR_MARKS)], (field, sent)


BAD_VALUES: list[tuple[str, dict[str, Any]]] = [
    ('{ completions(completedAfter: "2026-02-30") { edges { cursor } } }', {}),
    ("query($d: Date) { completions(completedBefore: $d) { edges { cursor } } }", {"d": "01/02/2026"}),
    ("query($d: Date) { completions(expiringBefore: $d) { edges { cursor } } }", {"d": "2026-1-1"}),
    ("query($s: Source) { lessons(source: $s) { totalCount } }", {"s": "NOPE"}),
    ("query($s: [LessonStatus!]) { lessons(status: $s) { totalCount } }", {"s": ["ACTIVE", "BROKEN"]}),
    ("query($s: ILTSessionState) { iltSessions(state: $s) { totalCount } }", {"s": "SOON"}),
    ("query($n: Int) { users(first: $n) { totalCount } }", {"n": "ten"}),
    ("query($b: Boolean) { users(includeInactive: $b) { totalCount } }", {"b": "yes"}),
]


async def test_bad_values_are_the_clients_input_errors(gateway: Gateway) -> None:
    for query, variables in BAD_VALUES:
        body = await gateway.query(query, variables)
        assert body.get("data") is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (query, variables)
    assert all(not gateway.log(s).entries for s in Source)


async def test_unknown_fields_and_enum_literals_fail_validation(gateway: Gateway) -> None:
    for query in ("{ lessons(source: NOPE) { totalCount } }", "{ users { edges { node { shoeSize } } } }"):
        body = await gateway.query(query)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]


async def test_an_input_too_long_for_an_upstream_url_is_bad_input_and_never_sent(gateway: Gateway) -> None:
    # Once httpx's InvalidURL, uncaught: INTERNAL_SERVER_ERROR.
    long = "x" * 100_000
    for field in (
        "users(search: $s) { edges { node { id } } }",
        "lessons(search: $s) { edges { node { id } } }",
    ):
        gateway.clear_logs()
        body = await gateway.query(f"query($s: String) {{ {field} }}", {"s": long})
        assert body["errors"] and {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
        assert body["data"] is not None  # the list is empty, the answer stands
        assert not [e for s in Source for e in gateway.log(s).entries if long[:1000] in e.query]
