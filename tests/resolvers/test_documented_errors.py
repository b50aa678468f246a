"""Every error a vendor document lists, produced by the sandbox in the situation the document gives,
and what the graph makes of it: a GraphQL error with `extensions.code` for a read, a userError with its
code for a write. One test per row of docs/vendors.md's "Documented errors" table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.errors import UpstreamNotFound, UpstreamRejected
from gateway.sources import Source
from gateway.upstreams.damstra.client import DamstraClient
from sandbox.damstra import EDITOR_CREDENTIAL
from sandbox.server import Sandbox
from tests.conftest import ANCHOR, Gateway
from tests.ids import damstra_user_id, gid, group_id
from tests.resolvers.graph_support import gateway_over
from tests.resolvers.test_mutations_scheduling import UNASSIGN, learninglogin_person

USERS = "{ users(first: 5) { edges { node { id } } } }"
GROUPS = "{ groups(first: 5) { edges { node { id } } } }"
LESSONS = "{ lessons(source: DAMSTRA, first: 5) { edges { node { id } } } }"
UPDATE = """mutation($input: UpdateUserInput!) { updateUser(input: $input) {
    user { id } userErrors { field code } } }"""
SCHEDULE = """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
    results { userErrors { field code } } } }"""
COMPLETE = """mutation($input: CompleteLessonInput!) { completeLesson(input: $input) {
    schedule { id } userErrors { field code } } }"""
COMPLETIONS = "query($source: Source!) { completions(source: $source, first: 5) { edges { node { id } } } }"


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def user_error_codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


# -- DAMSTRA --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "error"), [(USERS, "Invalid security token"), (GROUPS, "Token not valid")])
async def test_damstra_806_a_key_that_does_not_exist(gateway: Gateway, query: str, error: str) -> None:
    gateway.sandbox.controls[Source.DAMSTRA].credential = "regenerated-elsewhere"
    body = await gateway.query(query)
    assert set(error_codes(body)) == {"UPSTREAM_UNAUTHORIZED"}
    assert {e["extensions"]["upstreamCode"] for e in body["errors"]} == {806}


async def test_damstra_831_a_key_not_authorised_for_the_request(tmp_path: Path) -> None:
    sandbox = Sandbox.build(people=50, seed=7, anchor=ANCHOR)
    env = {"LEARNGRAPH_DAMSTRA_ACCESS_KEY": EDITOR_CREDENTIAL}
    async with gateway_over(sandbox, tmp_path, env=env) as gateway:
        # The catalogue is the editor's to read...
        lessons = await gateway.query(LESSONS)
        assert "errors" not in lessons and lessons["data"]["lessons"]["edges"]
        # ...managing users is not: a read answers a GraphQL error, a write a userError.
        users = await gateway.query(USERS)
        assert set(error_codes(users)) == {"UPSTREAM_FORBIDDEN"}
        assert {e["extensions"]["upstreamCode"] for e in users["errors"]} == {831}
        before = sandbox.world.damstra.users[10003].last_name
        update = await gateway.data(
            UPDATE, {"input": {"userId": damstra_user_id(10003), "lastName": "Editor"}}
        )
        assert user_error_codes(update["updateUser"]) == ["UPSTREAM_FORBIDDEN"]
        assert sandbox.world.damstra.users[10003].last_name == before
        state = sandbox.world.damstra
        busy = {s.lesson_id for s in state.schedules.values() if s.user_id == 10003}
        lesson = next(x for x in state.lessons.values() if x.status == "active" and x.lesson_id not in busy)
        lesson_id = gid(f"Lesson:damstra:{lesson.lesson_id}")
        schedules_before = len(state.schedules)
        scheduled = await gateway.data(
            SCHEDULE, {"input": {"userId": damstra_user_id(10003), "lessonIds": [lesson_id]}}
        )
        results = scheduled["scheduleLessons"]["results"]
        assert [user_error_codes(r) for r in results] == [["UPSTREAM_FORBIDDEN"]]
        completed = await gateway.data(
            COMPLETE, {"input": {"userId": damstra_user_id(10003), "lessonId": lesson_id}}
        )
        assert user_error_codes(completed["completeLesson"]) == ["UPSTREAM_FORBIDDEN"]
        assert len(state.schedules) == schedules_before


async def test_damstra_500_internal_server_error(gateway: Gateway) -> None:
    gateway.sandbox.controls[Source.DAMSTRA].faults.fail_next = 20  # every retry too
    body = await gateway.query(f'{{ user(id: "{damstra_user_id(10003)}") {{ id }} }}')
    assert error_codes(body) == ["UPSTREAM_UNAVAILABLE"]
    assert body["errors"][0]["extensions"]["upstreamCode"] == 500


async def test_damstra_842_group_not_found(gateway: Gateway) -> None:
    gateway.clear_logs()
    body = await gateway.query(f'{{ group(id: "{group_id(999999)}") {{ id }} }}')
    assert body["data"]["group"] is None and error_codes(body) == ["NOT_FOUND"]
    assert gateway.log(Source.DAMSTRA).count("GET", "/group/999999") == 1
    # A write naming it: a userError with the code.
    payload = await gateway.data(
        """mutation($input: GroupUsersInput!) { addGroupMembers(input: $input) { userErrors { field code } } }""",
        {"input": {"groupId": group_id(999999), "userIds": [damstra_user_id(10003)]}},
    )
    assert user_error_codes(payload["addGroupMembers"]) == ["NOT_FOUND"]


async def test_damstra_already_scheduled(gateway: Gateway) -> None:
    state = gateway.sandbox.world.damstra
    held = next(
        s
        for s in state.schedules.values()
        if s.status in ("scheduled", "due", "overdue") and s.user_id in state.users
    )
    lesson = state.lessons[held.lesson_id]
    body = await gateway.data(
        SCHEDULE,
        {
            "input": {
                "userId": damstra_user_id(held.user_id),
                "lessonIds": [gid(f"Lesson:damstra:{lesson.lesson_id}")],
            }
        },
    )
    assert [user_error_codes(r) for r in body["scheduleLessons"]["results"]] == [["ALREADY_SCHEDULED"]]


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        ("completed", 837, UpstreamRejected),
        ("cancelled", 836, UpstreamRejected),
        (None, 840, UpstreamNotFound),
    ],
)
async def test_damstra_embed_player_errors(
    connect: Any, sandbox: Sandbox, status: str | None, code: int, error: type[Exception]
) -> None:
    # The embed player's three documented refusals. The graph asks only for playable schedules
    # (Schedule.embedUrl is null for completed and cancelled ones, and a 836/837 met meanwhile is null).
    client: DamstraClient = connect(DamstraClient, Source.DAMSTRA)
    state = sandbox.world.damstra
    if status is None:
        schedule_id = 999_999
    else:
        schedule_id = next(s.id for s in state.schedules.values() if s.status == status)
    with pytest.raises(error) as caught:
        await client.get_embed_url(schedule_id)
    assert getattr(caught.value, "upstream_code", None) == code
    await client.aclose()


# -- LearningLogin --------------------------------------------------------------------------------


async def test_learninglogin_nothing_matched_on_unassign(gateway: Gateway) -> None:
    _, user = learninglogin_person(gateway)
    payload = await gateway.data(UNASSIGN, {"input": {"userId": user, "courseCodes": ["NO-SUCH-COURSE"]}})
    assert user_error_codes(payload["unassignCourses"]) == ["NOT_FOUND"]


async def test_learninglogin_authentication_error(gateway: Gateway) -> None:
    gateway.sandbox.controls[Source.LEARNINGLOGIN].credential = "rotated"
    body = await gateway.query(COMPLETIONS, {"source": "LEARNINGLOGIN"})
    assert error_codes(body) == ["UPSTREAM_UNAUTHORIZED"]
    assert body["data"]["completions"]["edges"] == []  # partial data: the list stands, empty


# -- iScout ---------------------------------------------------------------------------------------

ISCOUT_ERRORS = {
    "api_method_not_found": "UPSTREAM_REJECTED",
    "request_method_invalid": "UPSTREAM_REJECTED",
    "request_data_invalid": "UPSTREAM_REJECTED",
    "rate_limit_exceeded": "UPSTREAM_RATE_LIMITED",
    "token_missing": "UPSTREAM_UNAUTHORIZED",
    "token_invalid": "UPSTREAM_UNAUTHORIZED",
    "token_inactive": "UPSTREAM_UNAUTHORIZED",
    "token_permission": "UPSTREAM_FORBIDDEN",
    "account_inactive": "UPSTREAM_UNAVAILABLE",
    "parameter_unexpected": "UPSTREAM_REJECTED",
    "parameter_missing": "UPSTREAM_REJECTED",
    "parameter_invalid": "UPSTREAM_REJECTED",
    "server_error": "UPSTREAM_UNAVAILABLE",
    "content_not_found": "NOT_FOUND",
}


@pytest.mark.parametrize(("identifier", "code"), sorted(ISCOUT_ERRORS.items()))
async def test_iscout_documented_error(gateway: Gateway, identifier: str, code: str) -> None:
    controls = gateway.sandbox.controls[Source.ISCOUT]
    controls.error_next = [identifier] * 10  # retried ones fail on every attempt
    body = await gateway.query(COMPLETIONS, {"source": "ISCOUT"})
    assert error_codes(body) == [code]
    assert body["errors"][0]["extensions"]["upstreamCode"] == identifier
    assert body["data"]["completions"]["edges"] == []


def test_the_table_lists_every_iscout_identifier_of_the_document() -> None:
    document = (Path(__file__).parents[2] / "docs" / "vendors.md").read_text()
    for identifier in ISCOUT_ERRORS:
        assert f"`{identifier}`" in document, identifier
