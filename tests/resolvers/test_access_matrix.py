"""What each role sees and may do, through the whole gateway (the lean POST path, Strawberry's view, a
WebSocket, the certificate route), with the caller set as authentication would set it.

The seeded world (50 people, seed 7): the SUPERVISOR is DAMSTRA user 10000, who supervises groups 200
and 206; 200 has the sub-groups 203 and 206. The TRAINEE is 10027 (Bea Walker: groups 201 and 203, a
LearningLogin login 527 and an iScout user, linked by the identity file), whom the supervisor sees
through the sub-group 203 alone. The OUTSIDER is 10013 (group 205; LearningLogin 513 and Training
Records person-00013, linked by email): nobody's but ADMIN's to see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from gateway.data.callers import Caller, PersonRef, Role
from gateway.data.events import InProcessEventBus, TrainingEvent, TrainingEventType
from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import ANCHOR, IN_PROCESS, Gateway, _serve_gateway
from tests.resolvers.graph_support import world_completions
from tests.tokens import fixture_issuer

ADMIN = Caller("admin-key", Role.ADMIN, None)
SUPERVISOR = Caller("supervisor-token", Role.SUPERVISOR, PersonRef.parse("damstra:10000"))
TRAINEE = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("bea.walker27@example.com"))
CALLERS = {"ADMIN": ADMIN, "SUPERVISOR": SUPERVISOR, "TRAINEE": TRAINEE}
ROLES = tuple(CALLERS)


def gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SUP_ID = gid("User:damstra:10000")
TRAINEE_ID = gid("User:damstra:10027")
OUTSIDER_ID = gid("User:damstra:10013")
OUTSIDER_ACCOUNTS = {
    (Source.DAMSTRA, "10013"),
    (Source.LEARNINGLOGIN, "513"),
    (Source.TRAINING_RECORDS, "person-00013"),
}
TRAINEE_ACCOUNTS = {
    (Source.DAMSTRA, "10027"),
    (Source.LEARNINGLOGIN, "527"),
    (Source.ISCOUT, "895fd7b326b94c7f9118bb16"),
}


@pytest.fixture(params=["fast-paths", "strawberry-only"])
async def gateway(
    request: pytest.FixtureRequest, sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """Every case twice: through the lean POST path and generated rows, and through Strawberry's own
    view and execution (LEARNGRAPH_FAST_PATHS=false). The answers must agree."""
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {"LEARNGRAPH_FAST_PATHS": "true" if request.param == "fast-paths" else "false"}
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        yield served


@pytest.fixture
async def as_role(gateway: Gateway) -> AsyncIterator[dict[str, Gateway]]:
    async with (
        gateway.as_caller(ADMIN) as admin,
        gateway.as_caller(SUPERVISOR) as supervisor,
        gateway.as_caller(TRAINEE) as trainee,
    ):
        yield {"ADMIN": admin, "SUPERVISOR": supervisor, "TRAINEE": trainee}


def outcome(body: dict[str, Any], field: str) -> str:
    """ "ok" for a value; else the code of the error at `field`, or "null" (no error)."""
    data = body.get("data") or {}
    codes = [e["extensions"]["code"] for e in body.get("errors", [])]
    if data.get(field) is not None:
        assert not codes, body
        return "ok"
    return codes[0] if codes else "null"


# -- by ID: the typed root fields and node, for every type ----------------------------------------

OK, F, NF = "ok", "FORBIDDEN", "NOT_FOUND"
# (field, type name, ID, expected for ADMIN, SUPERVISOR, TRAINEE)
BY_ID: list[tuple[str, str, str, tuple[str, str, str]]] = [
    ("user", "User", SUP_ID, (OK, OK, F)),
    ("user", "User", TRAINEE_ID, (OK, OK, OK)),
    ("user", "User", gid("User:learninglogin:527"), (OK, OK, OK)),  # the trainee, by another account
    ("user", "User", OUTSIDER_ID, (OK, F, F)),
    ("user", "User", gid("User:training_records:person-00013"), (OK, F, F)),
    ("user", "User", gid("User:damstra:99999"), (NF, NF, NF)),
    ("group", "Group", gid("Group:damstra:200"), (OK, OK, F)),
    ("group", "Group", gid("Group:damstra:203"), (OK, OK, OK)),  # a sub-group; the trainee's
    ("group", "Group", gid("Group:damstra:201"), (OK, F, OK)),
    ("group", "Group", gid("Group:damstra:205"), (OK, F, F)),
    ("group", "Group", gid("Group:damstra:999"), (NF, NF, NF)),
    ("lesson", "Lesson", gid("Lesson:damstra:1019"), (OK, OK, OK)),
    ("lesson", "Lesson", gid("Lesson:training_records:PKG-004"), (OK, OK, OK)),
    ("lesson", "Lesson", gid("Lesson:learninglogin:JHSC"), (OK, OK, OK)),
    ("schedule", "Schedule", gid("Schedule:damstra:70098"), (OK, OK, OK)),  # the trainee's
    ("schedule", "Schedule", gid("Schedule:learninglogin:58"), (OK, OK, OK)),  # the trainee's login's
    ("schedule", "Schedule", gid("Schedule:damstra:70047"), (OK, F, F)),  # the outsider's
    ("schedule", "Schedule", gid("Schedule:learninglogin:40"), (OK, F, F)),
    ("schedule", "Schedule", gid("Schedule:training_records:rec-00018"), (OK, F, F)),
    ("schedule", "Schedule", gid("Schedule:damstra:1"), (NF, NF, NF)),
    ("iltSession", "ILTSession", gid("ILTSession:damstra:400"), (OK, OK, OK)),
    ("node", "Completion", gid("Completion:learninglogin:58"), (OK, OK, OK)),
    ("node", "Completion", gid("Completion:damstra:70047"), (OK, F, F)),
    ("node", "Completion", gid("Completion:learninglogin:40"), (OK, F, F)),
]


@pytest.mark.parametrize(("field", "type_name", "raw_id", "expected"), BY_ID)
@pytest.mark.parametrize("as_node", [False, True], ids=["typed", "node"])
async def test_by_id(
    as_role: dict[str, Gateway],
    field: str,
    type_name: str,
    raw_id: str,
    expected: tuple[str, str, str],
    as_node: bool,
) -> None:
    if as_node or field == "node":
        field, query = "node", f'{{ node(id: "{raw_id}") {{ id ... on {type_name} {{ __typename }} }} }}'
    else:
        query = f'{{ {field}(id: "{raw_id}") {{ id }} }}'
    answers = {role: outcome(await as_role[role].query(query), field) for role in ROLES}
    assert answers == dict(zip(ROLES, expected, strict=True))


async def test_a_forbidden_answer_tells_nothing_of_the_object(as_role: dict[str, Gateway]) -> None:
    body = await as_role["SUPERVISOR"].query(f'{{ user(id: "{OUTSIDER_ID}") {{ firstName email }} }}')
    assert body["data"] == {"user": None}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"} and error["path"] == ["user"]
    assert "Noah" not in json.dumps(body) and "noah" not in json.dumps(body)


async def test_get_goes_through_the_same_rules(as_role: dict[str, Gateway]) -> None:
    """GET is answered by Strawberry's own view, not the lean POST path: the same context, the same rules."""
    query = f'{{ user(id: "{OUTSIDER_ID}") {{ id }} users {{ totalCount }} }}'
    response = await as_role["TRAINEE"].http.get("/graphql", params={"query": query})
    body = response.json()
    assert response.status_code == 200 and body["data"] == {"user": None, "users": {"totalCount": 1}}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


# -- lists ------------------------------------------------------------------------------------------


async def test_users_lists_only_whom_the_caller_may_see_and_counts_them(
    gateway: Gateway, as_role: dict[str, Gateway]
) -> None:
    query = "{ users(first: 100, includeInactive: true) { totalCount edges { node { id } } } }"
    groups = gateway.sandbox.world.damstra.groups
    members = {uid for g in (200, 203, 206) for uid in groups[g].member_ids} | {10000}
    expected = {
        "SUPERVISOR": {gid(f"User:damstra:{uid}") for uid in members},
        "TRAINEE": {TRAINEE_ID},
    }
    admin = (await as_role["ADMIN"].data(query))["users"]
    assert admin["totalCount"] > len(members) and OUTSIDER_ID in {e["node"]["id"] for e in admin["edges"]}
    for role, ids in expected.items():
        users = (await as_role[role].data(query))["users"]
        assert {e["node"]["id"] for e in users["edges"]} == ids
        assert users["totalCount"] == len(ids)
    # DAMSTRA's search, as the visible set answers it: `search` in a name, inactive left out by default.
    search = '{ users(search: "a", first: 100) { totalCount edges { node { id } } } }'
    everyone = {e["node"]["id"] for e in (await as_role["ADMIN"].data(search))["users"]["edges"]}
    found = (await as_role["SUPERVISOR"].data(search))["users"]
    assert {e["node"]["id"] for e in found["edges"]} == everyone & expected["SUPERVISOR"]
    assert found["totalCount"] == len(found["edges"]) < len(everyone)


async def test_groups_list_and_nested_group_fields(as_role: dict[str, Gateway]) -> None:
    query = "{ groups(first: 50) { totalCount edges { node { id } } } }"
    totals = {role: (await as_role[role].data(query))["groups"] for role in ROLES}
    assert totals["ADMIN"]["totalCount"] == 8
    assert [e["node"]["id"] for e in totals["SUPERVISOR"]["edges"]] == [
        gid(f"Group:damstra:{g}") for g in (200, 203, 206)
    ]
    assert totals["SUPERVISOR"]["totalCount"] == 3
    assert [e["node"]["id"] for e in totals["TRAINEE"]["edges"]] == [
        gid(f"Group:damstra:{g}") for g in (201, 203)
    ]

    nested = f"""{{ group(id: "{gid("Group:damstra:203")}") {{ parent {{ id }}
        members(first: 50) {{ totalCount edges {{ node {{ id }} }} }}
        supervisors {{ totalCount edges {{ node {{ id }} }} }} }} }}"""
    admin = (await as_role["ADMIN"].data(nested))["group"]
    supervisor = (await as_role["SUPERVISOR"].data(nested))["group"]  # no errors
    trainee = (await as_role["TRAINEE"].data(nested))["group"]  # no errors either
    assert admin["members"]["totalCount"] == 6 and admin["supervisors"]["totalCount"] == 1
    assert supervisor["parent"] == {"id": gid("Group:damstra:200")}
    assert supervisor["members"] == admin["members"]  # all of a supervised sub-group's members
    assert supervisor["supervisors"] == {"totalCount": 0, "edges": []}  # 10021, a co-supervisor: absent
    assert trainee["parent"] is None  # 200: not theirs, and no error
    assert trainee["members"] == {"totalCount": 1, "edges": [{"node": {"id": TRAINEE_ID}}]}


async def test_a_users_groups_hold_only_those_the_caller_may_see(as_role: dict[str, Gateway]) -> None:
    query = f'{{ user(id: "{TRAINEE_ID}") {{ groups {{ id }} supervisedGroups {{ id }} }} }}'
    trainee = (await as_role["TRAINEE"].data(query))["user"]
    supervisor = (await as_role["SUPERVISOR"].data(query))["user"]
    assert [g["id"] for g in trainee["groups"]] == [gid("Group:damstra:201"), gid("Group:damstra:203")]
    assert [g["id"] for g in supervisor["groups"]] == [gid("Group:damstra:203")]


async def test_the_catalogue_is_everyones(as_role: dict[str, Gateway]) -> None:
    query = """{ lessons(first: 500) { totalCount edges { node { id } } }
        iltSessions(first: 50) { totalCount edges { node { id lesson { name } } } } }"""
    answers = [await as_role[role].data(query) for role in ROLES]
    assert answers[0] == answers[1] == answers[2]
    codes = {e["node"]["id"] for e in answers[0]["lessons"]["edges"]}
    # Codes the other sources name, whoever's records name them (PKG-004: the outsider's alone here too).
    assert gid("Lesson:training_records:PKG-004") in codes and gid("Lesson:learninglogin:JHSC") in codes


async def test_ilt_attendees_and_people_inside_visible_objects(as_role: dict[str, Gateway]) -> None:
    query = f"""{{ iltSession(id: "{gid("ILTSession:damstra:400")}") {{
        instructor {{ id }} attendees {{ user {{ id }} registeredBy {{ id }} }} }} }}"""
    session = {role: (await as_role[role].data(query))["iltSession"] for role in ROLES}
    attendees = {role: {a["user"]["id"] for a in s["attendees"]} for role, s in session.items()}
    assert attendees["ADMIN"] == {gid(f"User:damstra:{u}") for u in (10000, 10033, 10018, 10011, 10023)}
    assert attendees["SUPERVISOR"] == attendees["ADMIN"] - {gid("User:damstra:10033")}
    assert attendees["TRAINEE"] == set()
    assert session["SUPERVISOR"]["instructor"] == {"id": gid("User:damstra:10002")}
    assert session["TRAINEE"]["instructor"] is None  # someone they may not see: null, no error

    schedule = f'{{ schedule(id: "{gid("Schedule:damstra:70098")}") {{ user {{ id }} }} }}'
    assert (await as_role["TRAINEE"].data(schedule))["schedule"]["user"] == {"id": TRAINEE_ID}


async def test_a_visible_persons_schedules_and_completions_are_whole(as_role: dict[str, Gateway]) -> None:
    query = f"""{{ user(id: "{TRAINEE_ID}") {{ schedules(first: 100) {{ totalCount edges {{ node {{ id }} }} }}
        completions(first: 100) {{ edges {{ node {{ id source }} }} }} }} }}"""
    answers = [(await as_role[role].data(query))["user"] for role in ROLES]
    assert answers[0] == answers[1] == answers[2]
    sources = {e["node"]["source"] for e in answers[0]["completions"]["edges"]}
    assert sources == {"LEARNINGLOGIN", "ISCOUT"}  # through the identity file's links


async def test_completions_across_people_hold_only_whom_the_caller_may_see(
    gateway: Gateway, as_role: dict[str, Gateway]
) -> None:
    # More than the world's 336 completions, and with a user each within the default cost limit.
    query = "{ completions(first: 500) { edges { node { id user { id accounts { source nativeId } } } } } }"
    every = world_completions(gateway.sandbox.world)
    admin = (await as_role["ADMIN"].data(query))["completions"]["edges"]
    assert {e["node"]["id"] for e in admin} == {d.id for d in every}

    trainee = (await as_role["TRAINEE"].data(query))["completions"]["edges"]
    assert {e["node"]["id"] for e in trainee} == {d.id for d in every if d.owner in TRAINEE_ACCOUNTS}
    assert {e["node"]["user"]["id"] for e in trainee} == {TRAINEE_ID}

    supervisor = (await as_role["SUPERVISOR"].data(query))["completions"]["edges"]
    assert {e["node"]["id"] for e in trainee} < {e["node"]["id"] for e in supervisor}
    owners = {(Source[a["source"]], a["nativeId"]) for e in supervisor for a in e["node"]["user"]["accounts"]}
    assert not owners & OUTSIDER_ACCOUNTS
    assert not {d.id for d in every if d.owner in OUTSIDER_ACCOUNTS} & {e["node"]["id"] for e in supervisor}

    body = await as_role["SUPERVISOR"].query(
        f'{{ completions(userId: "{OUTSIDER_ID}") {{ edges {{ cursor }} }} }}'
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


# -- upstream cost --------------------------------------------------------------------------------

PERSON_VIEW = f"""{{ user(id: "{TRAINEE_ID}") {{ fullName groups {{ name }}
    schedules(first: 20) {{ edges {{ node {{ status lesson {{ name }} }} }} }}
    completions(first: 5) {{ edges {{ node {{ source completedAt }} }} }} }} }}"""


async def test_admin_costs_what_it_did_and_the_others_a_visible_set_once(
    gateway: Gateway, as_role: dict[str, Gateway]
) -> None:
    def requests() -> int:
        return sum(len(gateway.log(source).entries) for source in Source)

    gateway.clear_logs()
    await gateway.data(PERSON_VIEW)  # nothing authenticated: the unguarded path, as before this work
    baseline = requests()
    gateway.services.cache.clear()
    gateway.clear_logs()
    await as_role["ADMIN"].data(PERSON_VIEW)
    assert requests() == baseline

    for role, visible_set in (("SUPERVISOR", 5), ("TRAINEE", 1)):
        gateway.services.cache.clear()
        gateway.clear_logs()
        await as_role[role].data(PERSON_VIEW)
        # The same reads, plus working out the visible set (supervisor: themself, every group, the
        # three groups' members; trainee: one search by their email), less the trainee's groups and user
        # the visible set already read.
        cold = requests()
        assert baseline <= cold <= baseline + visible_set
        gateway.clear_logs()
        await as_role[role].data(PERSON_VIEW)
        warm = requests()
        gateway.clear_logs()
        await as_role["ADMIN"].data(PERSON_VIEW)
        assert warm == requests()  # warm: the visible set costs nothing


async def test_a_supervisors_group_view_makes_one_read_per_member_source_not_more(
    gateway: Gateway, as_role: dict[str, Gateway]
) -> None:
    query = f"""{{ group(id: "{gid("Group:damstra:200")}") {{ members(first: 50) {{
        edges {{ node {{ fullName schedules(status: [OVERDUE]) {{ edges {{ node {{ lesson {{ name }} }} }} }} }} }} }} }} }}"""
    for role in ("ADMIN", "SUPERVISOR"):
        await as_role[role].data(query)  # warm the caches
    gateway.clear_logs()
    await as_role["ADMIN"].data(query)
    admin = sorted(gateway.log(Source.DAMSTRA).paths())
    gateway.clear_logs()
    await as_role["SUPERVISOR"].data(query)
    supervisor = sorted(gateway.log(Source.DAMSTRA).paths())
    # The member listing comes from the visible set; each member's schedules, as for ADMIN.
    assert supervisor == [p for p in admin if "/member" not in p]


async def test_a_learninglogin_schedule_by_id_costs_a_read_of_the_login_it_names(
    gateway: Gateway, as_role: dict[str, Gateway]
) -> None:
    """A train session names its trainee by full name only: the visible login of that name is read."""
    supervisor = as_role["SUPERVISOR"]
    await supervisor.data("{ users { totalCount } }")  # the visible set, worked out
    for session, expected in ((58, OK), (40, F)):
        gateway.clear_logs()
        body = await supervisor.query(
            f'{{ schedule(id: "{gid(f"Schedule:learninglogin:{session}")}") {{ id }} }}'
        )
        assert outcome(body, "schedule") == expected
        searches = [p for p in gateway.log(Source.LEARNINGLOGIN).paths() if "assignee_login_username_eq" in p]
        # Bea Walker's login for her session; none for Noah Jones's, whom the supervisor sees no login of.
        assert len(searches) == (1 if expected == OK else 0), searches


# -- mutations ------------------------------------------------------------------------------------

ADMIN_ONLY_MUTATIONS = {
    "createUser": '{firstName: "New", lastName: "Person"}',
    "updateUser": f'{{userId: "{TRAINEE_ID}", firstName: "Renamed"}}',
    "activateUser": f'{{userId: "{TRAINEE_ID}"}}',
    "inactivateUser": f'{{userId: "{TRAINEE_ID}"}}',
    "importUsers": '{users: [{firstName: "A", lastName: "B"}]}',
    "createGroup": '{name: "Night shift"}',
    "updateGroup": f'{{groupId: "{gid("Group:damstra:203")}", name: "Renamed"}}',
    "inactivateGroup": f'{{groupId: "{gid("Group:damstra:203")}"}}',
    "addGroupMembers": f'{{groupId: "{gid("Group:damstra:203")}", userIds: ["{OUTSIDER_ID}"]}}',
    "removeGroupMembers": f'{{groupId: "{gid("Group:damstra:203")}", userIds: ["{TRAINEE_ID}"]}}',
    "addGroupSupervisors": f'{{groupId: "{gid("Group:damstra:203")}", userIds: ["{SUP_ID}"]}}',
    "removeGroupSupervisors": f'{{groupId: "{gid("Group:damstra:203")}", userIds: ["{TRAINEE_ID}"]}}',
    "createILTSession": f'{{lessonId: "{gid("Lesson:damstra:1019")}", instructorId: "{SUP_ID}", '
    'startsAt: "2026-12-01T09:00:00Z", endsAt: "2026-12-01T10:00:00Z", location: "Room 1"}',
    "updateILTSession": f'{{sessionId: "{gid("ILTSession:damstra:400")}", location: "Room 2"}}',
    "completeILTSession": f'{{sessionId: "{gid("ILTSession:damstra:400")}"}}',
    "cancelILTSession": f'{{sessionId: "{gid("ILTSession:damstra:400")}"}}',
    "saveILTAttendance": f'{{sessionId: "{gid("ILTSession:damstra:400")}", attendance: [{{userId: "{SUP_ID}", attended: true}}]}}',
}


@pytest.mark.parametrize("mutation", sorted(ADMIN_ONLY_MUTATIONS))
@pytest.mark.parametrize("role", ROLES)
async def test_user_group_and_session_administration_is_admins_alone(
    gateway: Gateway, as_role: dict[str, Gateway], caplog: pytest.LogCaptureFixture, mutation: str, role: str
) -> None:
    caplog.set_level(logging.INFO, logger="learngraph.audit")
    gateway.clear_logs()
    body = await as_role[role].data(
        f"mutation {{ {mutation}(input: {ADMIN_ONLY_MUTATIONS[mutation]}) {{ userErrors {{ code field }} }} }}"
    )
    codes = [e["code"] for e in body[mutation]["userErrors"]]
    audited = [json.loads(r.getMessage()) for r in caplog.records if r.name == "learngraph.audit"]
    if role == "ADMIN":
        assert "FORBIDDEN" not in codes
        assert audited and all(e["role"] == "ADMIN" and e["mutation"] == mutation for e in audited)
        return
    assert body[mutation]["userErrors"] == [{"code": "FORBIDDEN", "field": None}]
    # Refused before anything was read, let alone sent.
    assert all(not gateway.log(source).entries for source in Source)
    assert [(e["caller"], e["mutation"], e["outcome"]) for e in audited] == [
        (CALLERS[role].name, mutation, {"*": "FORBIDDEN"})
    ]


async def test_the_audit_event_carries_the_request_id(
    as_role: dict[str, Gateway], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="learngraph.audit")
    query = 'mutation { createGroup(input: {name: "x"}) { userErrors { code } } }'
    response = await as_role["TRAINEE"].http.post(
        "/graphql", json={"query": query}, headers={"X-Request-Id": "req-42"}
    )
    assert response.json()["data"]["createGroup"]["userErrors"] == [{"code": "FORBIDDEN"}]
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "learngraph.audit"]
    assert event["requestId"] == "req-42" and event["caller"] == "trainee-token"


SCHEDULE = """mutation($user: ID!) { scheduleLessons(input: {userId: $user, lessonIds: ["LESSON"]}) {
    schedules { id user { id } } results { userErrors { code field } } userErrors { code } } }""".replace(
    "LESSON", gid("Lesson:damstra:1000")
)


async def test_schedule_lessons_for_ones_people_only(gateway: Gateway, as_role: dict[str, Gateway]) -> None:
    gateway.clear_logs()
    member = (await as_role["SUPERVISOR"].data(SCHEDULE, {"user": TRAINEE_ID}))["scheduleLessons"]
    assert member["userErrors"] == [] and member["schedules"][0]["user"] == {"id": TRAINEE_ID}
    assert gateway.writes(Source.DAMSTRA) == ["POST /user/10027/lesson_schedule"]

    gateway.clear_logs()
    outsider = (await as_role["SUPERVISOR"].data(SCHEDULE, {"user": OUTSIDER_ID}))["scheduleLessons"]
    assert outsider["results"] == [{"userErrors": [{"code": "FORBIDDEN", "field": ["lessonIds", "0"]}]}]
    # Nothing sent, and nothing read about them.
    assert gateway.writes(Source.DAMSTRA) == []
    assert not [p for s in Source for p in gateway.log(s).paths() if "10013" in p or "513" in p]

    nobody = (await as_role["SUPERVISOR"].data(SCHEDULE, {"user": gid("User:damstra:99999")}))[
        "scheduleLessons"
    ]
    assert nobody["userErrors"] == [{"code": "FORBIDDEN"}]  # not NOT_FOUND: a refusal says no more

    own = (await as_role["TRAINEE"].data(SCHEDULE, {"user": TRAINEE_ID}))["scheduleLessons"]
    assert own["userErrors"] == [{"code": "FORBIDDEN"}]
    admin = (await as_role["ADMIN"].data(SCHEDULE, {"user": OUTSIDER_ID}))["scheduleLessons"]
    assert admin["userErrors"] == [] and admin["schedules"]


@pytest.mark.parametrize(
    ("mutation", "arguments"),
    [
        ("completeLesson", f'lessonId: "{gid("Lesson:damstra:1004")}"'),
        ("unassignCourses", 'courseCodes: ["TDG"]'),
    ],
)
async def test_completing_and_unassigning_for_someone_else_is_refused(
    gateway: Gateway, as_role: dict[str, Gateway], mutation: str, arguments: str
) -> None:
    query = f'mutation {{ {mutation}(input: {{userId: "{OUTSIDER_ID}", {arguments}}}) {{ userErrors {{ code field }} }} }}'
    for role in ("SUPERVISOR", "TRAINEE"):
        gateway.clear_logs()
        errors = (await as_role[role].data(query))[mutation]["userErrors"]
        assert [e["code"] for e in errors] == ["FORBIDDEN"]
        assert all(not gateway.writes(source) for source in Source)
    admin = (await as_role["ADMIN"].data(query))[mutation]["userErrors"]
    assert "FORBIDDEN" not in [e["code"] for e in admin]


async def test_a_supervisor_completes_and_unassigns_for_their_people(
    gateway: Gateway, as_role: dict[str, Gateway]
) -> None:
    complete = f"""mutation {{ completeLesson(input: {{userId: "{TRAINEE_ID}", lessonId: "{gid("Lesson:damstra:1019")}",
        completedById: "{SUP_ID}"}}) {{ schedule {{ status }} userErrors {{ code }} }} }}"""
    done = (await as_role["SUPERVISOR"].data(complete))["completeLesson"]
    assert done == {"schedule": {"status": "COMPLETED"}, "userErrors": []}
    unassign = f'mutation {{ unassignCourses(input: {{userId: "{TRAINEE_ID}", courseCodes: ["TDG"]}}) {{ unassignedCount userErrors {{ code }} }} }}'
    assert (await as_role["SUPERVISOR"].data(unassign))["unassignCourses"] == {
        "unassignedCount": 1,
        "userErrors": [],
    }


def registration(mutation: str, session: str) -> str:
    return f"""mutation($users: [ID!]!) {{ {mutation}(input: {{sessionId: "{session}", userIds: $users}}) {{
        results {{ userId registered userErrors {{ code }} }} session {{ attendees {{ user {{ id }} }} }} }} }}"""


async def test_registration_is_per_person(gateway: Gateway, as_role: dict[str, Gateway]) -> None:
    # Session 403 (upcoming) is for lesson 1003, which the trainee is not scheduled for: not yet.
    register = registration("registerForILTSession", gid("ILTSession:damstra:403"))
    deregister = registration("deregisterFromILTSession", gid("ILTSession:damstra:403"))
    answer = (await as_role["TRAINEE"].data(register, {"users": [TRAINEE_ID]}))["registerForILTSession"]
    assert [[e["code"] for e in r["userErrors"]] for r in answer["results"]] == [["NOT_SCHEDULED_FOR_LESSON"]]
    lesson = {"user": TRAINEE_ID}
    scheduled = await as_role["SUPERVISOR"].data(
        SCHEDULE.replace(gid("Lesson:damstra:1000"), gid("Lesson:damstra:1003")), lesson
    )
    assert scheduled["scheduleLessons"]["userErrors"] == []

    gateway.clear_logs()
    answer = (await as_role["TRAINEE"].data(register, {"users": [TRAINEE_ID, OUTSIDER_ID]}))[
        "registerForILTSession"
    ]
    assert [
        (r["userId"], r["registered"], [e["code"] for e in r["userErrors"]]) for r in answer["results"]
    ] == [
        (TRAINEE_ID, True, []),
        (OUTSIDER_ID, False, ["FORBIDDEN"]),
    ]
    assert answer["session"]["attendees"] == [{"user": {"id": TRAINEE_ID}}]  # the others: absent
    (sent,) = [e for e in gateway.log(Source.DAMSTRA).entries if e.method != "GET"]
    assert sent.path.endswith("/bulk_register") and json.loads(sent.body)["userIds"] == [10027]

    # A supervisor may (de)register their people, not anyone else; the trainee, themself only.
    answer = (await as_role["SUPERVISOR"].data(deregister, {"users": [TRAINEE_ID, OUTSIDER_ID]}))[
        "deregisterFromILTSession"
    ]
    assert [[e["code"] for e in r["userErrors"]] for r in answer["results"]] == [[], ["FORBIDDEN"]]
    answer = (await as_role["TRAINEE"].data(register, {"users": [SUP_ID]}))["registerForILTSession"]
    assert [[e["code"] for e in r["userErrors"]] for r in answer["results"]] == [["FORBIDDEN"]]


LOGIN_URL = """mutation($user: ID!) { generateLoginUrl(input: {userId: $user, expiresIn: DAY}) {
    url userErrors { code } } }"""


@pytest.mark.parametrize(
    ("role", "user", "allowed"),
    [
        ("ADMIN", OUTSIDER_ID, True),
        ("SUPERVISOR", SUP_ID, True),
        ("SUPERVISOR", TRAINEE_ID, False),  # a member, but a login link is for oneself
        ("TRAINEE", TRAINEE_ID, True),
        ("TRAINEE", gid("User:learninglogin:527"), True),  # themself, by another account
        ("TRAINEE", SUP_ID, False),
    ],
)
async def test_login_links_are_for_oneself(
    gateway: Gateway, as_role: dict[str, Gateway], role: str, user: str, allowed: bool
) -> None:
    gateway.clear_logs()
    answer = (await as_role[role].data(LOGIN_URL, {"user": user}))["generateLoginUrl"]
    if allowed:
        assert answer["url"] and answer["userErrors"] == []
    else:
        assert answer == {"url": None, "userErrors": [{"code": "FORBIDDEN"}]}
        assert gateway.writes(Source.DAMSTRA) == []


async def test_an_idempotency_key_never_answers_another_caller(
    gateway: Gateway, as_role: dict[str, Gateway]
) -> None:
    query = LOGIN_URL.replace("expiresIn: DAY}", 'expiresIn: DAY, idempotencyKey: "k1"}')
    first = (await as_role["ADMIN"].data(query, {"user": TRAINEE_ID}))["generateLoginUrl"]
    assert first["url"]
    again = (await as_role["SUPERVISOR"].data(query, {"user": TRAINEE_ID}))["generateLoginUrl"]
    assert again == {"url": None, "userErrors": [{"code": "FORBIDDEN"}]}


# -- subscriptions and certificates -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def subscribed(gateway: Gateway, caller: Caller, arguments: str = "") -> AsyncIterator[Any]:
    """A graphql-transport-ws subscription to trainingEvents over a real socket, as `caller`."""
    query = f"subscription {{ trainingEvents{arguments} {{ type userId }} }}"
    async with serve_on_loopback(gateway.app) as address:
        url = address.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            payload = fixture_issuer().headers(caller)  # the credential rides in connection_init
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            yield ws


async def test_subscribers_get_only_events_about_people_they_may_see(gateway: Gateway) -> None:
    bus = gateway.services.events
    assert isinstance(bus, InProcessEventBus)

    def about(user_id: str, source: Source = Source.DAMSTRA) -> TrainingEvent:
        return TrainingEvent(TrainingEventType.SCHEDULE_CHANGED, source, ANCHOR, user_id=user_id)

    async with subscribed(gateway, SUPERVISOR) as supervisor, subscribed(gateway, TRAINEE) as trainee:
        async with asyncio.timeout(5):
            while bus.subscriber_count < 2:  # noqa: ASYNC110 (polls state another task changes; no event to wait on)
                await asyncio.sleep(0.01)
        for event in (
            about("10013"),
            about("513", Source.LEARNINGLOGIN),
            about("10000"),
            about("527", Source.LEARNINGLOGIN),
        ):
            await bus.publish(event)

        async def received(ws: Any, count: int) -> list[str]:
            messages = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(count)]
            return [m["payload"]["data"]["trainingEvents"]["userId"] for m in messages]

        assert await received(supervisor, 2) == [SUP_ID, gid("User:learninglogin:527")]
        assert await received(trainee, 1) == [gid("User:learninglogin:527")]


async def test_subscribing_to_someone_the_caller_may_not_see_is_forbidden(gateway: Gateway) -> None:
    async with subscribed(gateway, TRAINEE, f'(userId: "{SUP_ID}")') as ws:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert message["type"] == "next"
    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["FORBIDDEN"]


@pytest.mark.parametrize(
    ("role", "schedule", "status"),
    [
        ("ADMIN", 70047, 200),
        ("SUPERVISOR", 70047, 403),  # the outsider's
        ("TRAINEE", 70047, 403),
        ("SUPERVISOR", 1, 404),
    ],
)
async def test_certificates(as_role: dict[str, Gateway], role: str, schedule: int, status: int) -> None:
    response = await as_role[role].http.get(f"/certificates/{schedule}")
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["code"] == "FORBIDDEN"


async def test_a_supervisor_has_their_peoples_certificates(
    gateway: Gateway, as_role: dict[str, Gateway]
) -> None:
    groups = gateway.sandbox.world.damstra.groups
    members = {uid for g in (200, 203, 206) for uid in groups[g].member_ids}
    schedule = next(
        s.id
        for s in gateway.sandbox.world.damstra.schedules.values()
        if s.user_id in members and s.status == "completed"
    )
    response = await as_role["SUPERVISOR"].http.get(f"/certificates/{schedule}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
