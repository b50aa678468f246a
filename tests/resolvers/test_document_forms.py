"""Where a vendor's document is silent, the form the gateway sends is a setting, and the sandbox takes
only the form it is set to: DAMSTRA's Update User verb (LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD) and
LearningLogin's unassign by ids (LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM). Each form works end to end
when both sides agree, and a gateway sending the other one is refused and says so in userErrors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.sources import Source
from sandbox.server import Sandbox
from tests.conftest import ANCHOR, Gateway
from tests.ids import damstra_user_id, gid
from tests.resolvers.graph_support import gateway_over
from tests.resolvers.test_mutations_scheduling import UNASSIGN, learninglogin_person

UPDATE = """mutation($input: UpdateUserInput!) { updateUser(input: $input) {
    user { lastName } userErrors { field message code } } }"""


def fresh_sandbox() -> Sandbox:
    return Sandbox.build(people=50, seed=7, anchor=ANCHOR)


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_update_user_sends_the_configured_verb_and_the_sandbox_takes_it(
    tmp_path: Path, method: str
) -> None:
    sandbox = fresh_sandbox()
    sandbox.controls[Source.DAMSTRA].update_user_method = method
    async with gateway_over(sandbox, tmp_path) as gateway:  # its env says the same verb
        data = await gateway.data(UPDATE, {"input": {"userId": damstra_user_id(10003), "lastName": "Verb"}})
    payload = data["updateUser"]
    assert payload["userErrors"] == [] and payload["user"]["lastName"] == "Verb"
    assert sandbox.world.damstra.users[10003].last_name == "Verb"
    writes = [e for e in sandbox.controls[Source.DAMSTRA].log.entries if e.method not in ("GET", "HEAD")]
    assert [(e.method, e.path) for e in writes] == [(method, "/user/10003")]
    assert orjson.loads(writes[0].body)["id"] == 10003


@pytest.mark.parametrize(("sent", "taken"), [("PUT", "POST"), ("POST", "PUT")])
async def test_the_sandbox_refuses_the_verb_it_is_not_set_to(tmp_path: Path, sent: str, taken: str) -> None:
    sandbox = fresh_sandbox()
    sandbox.controls[Source.DAMSTRA].update_user_method = taken
    before = sandbox.world.damstra.users[10003].last_name
    env = {"LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD": sent}
    async with gateway_over(sandbox, tmp_path, env=env) as gateway:
        data = await gateway.data(UPDATE, {"input": {"userId": damstra_user_id(10003), "lastName": "Verb"}})
    payload = data["updateUser"]
    assert payload["user"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["UPSTREAM_REJECTED"]
    assert sandbox.world.damstra.users[10003].last_name == before
    refused = [e for e in sandbox.controls[Source.DAMSTRA].log.entries if e.method == sent]
    assert [e.path for e in refused] == ["/user/10003"]


def _unassign_input(gateway: Gateway) -> tuple[dict[str, Any], list[int]]:
    person, user = learninglogin_person(gateway)
    sessions = sorted(
        ts.id
        for ts in gateway.sandbox.world.learninglogin.train_sessions.values()
        if ts.login_id == person.learninglogin_login_id
    )[:2]
    ids = [gid(f"Schedule:learninglogin:{i}") for i in sessions]
    return {"userId": user, "scheduleIds": ids}, sessions


@pytest.mark.parametrize(("form", "query"), [("json-list", "ids="), ("brackets", "ids%5B%5D=")])
async def test_unassign_by_ids_sends_the_configured_form(tmp_path: Path, form: str, query: str) -> None:
    sandbox = fresh_sandbox()
    sandbox.controls[Source.LEARNINGLOGIN].unassign_ids_form = form
    async with gateway_over(sandbox, tmp_path) as gateway:
        value, sessions = _unassign_input(gateway)
        data = await gateway.data(UNASSIGN, {"input": value})
    payload = data["unassignCourses"]
    assert payload["userErrors"] == [] and payload["unassignedCount"] == len(sessions)
    assert not set(sessions) & set(sandbox.world.learninglogin.train_sessions)
    posts = [e for e in sandbox.controls[Source.LEARNINGLOGIN].log.entries if e.method == "POST"]
    assert len(posts) == 1 and query in posts[0].query  # one request for every id: a batch stays a batch


@pytest.mark.parametrize(("sent", "taken"), [("json-list", "brackets"), ("brackets", "json-list")])
async def test_unassign_by_ids_in_the_other_form_is_refused(tmp_path: Path, sent: str, taken: str) -> None:
    sandbox = fresh_sandbox()
    sandbox.controls[Source.LEARNINGLOGIN].unassign_ids_form = taken
    env = {"LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM": sent}
    async with gateway_over(sandbox, tmp_path, env=env) as gateway:
        value, sessions = _unassign_input(gateway)
        data = await gateway.data(UNASSIGN, {"input": value})
    payload = data["unassignCourses"]
    assert {e["code"] for e in payload["userErrors"]} == {"UPSTREAM_REJECTED"}
    assert set(sessions) <= set(sandbox.world.learninglogin.train_sessions)
