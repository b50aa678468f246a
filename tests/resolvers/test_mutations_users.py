"""The DAMSTRA user writes end to end: what DAMSTRA holds afterwards, what later queries show,
every userError path, idempotent replays and a write whose outcome is unknown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.sources import Source
from sandbox.world import STATUS_ACTIVE, STATUS_NOT_CURRENT, DamstraState
from tests.conftest import QUICK_LOOPBACK_TIMEOUT_SECONDS, Gateway
from tests.ids import damstra_user_id, gid, group_id, native_id

ERRORS = "userErrors { field message code }"
USER = (
    "id firstName lastName username email employeeNumber active roles timeZone "
    "groups { id } supervisedGroups { id }"
)


def state(gateway: Gateway) -> DamstraState:
    return gateway.sandbox.world.damstra


async def mutate(gateway: Gateway, name: str, value: dict[str, Any], selection: str) -> dict[str, Any]:
    input_type = name[0].upper() + name[1:] + "Input"
    query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} }} }}"
    payload: dict[str, Any] = (await gateway.data(query, {"input": value}))[name]
    return payload


def codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


def no_account_person(gateway: Gateway) -> str:
    """A User ID of someone with an iScout account and no DAMSTRA one."""
    person = next(p for p in gateway.sandbox.world.people if p.damstra_user_id is None and p.iscout_user_id)
    return gid(f"User:iscout:{person.iscout_user_id}")


async def next_event(events: AsyncIterator[TrainingEvent]) -> TrainingEvent:
    return await asyncio.wait_for(anext(events), 1.0)


@pytest.fixture
def loopback_timeout_seconds() -> float:
    return QUICK_LOOPBACK_TIMEOUT_SECONDS


# -- createUser -----------------------------------------------------------------------------------


async def test_create_user_writes_damstra_and_later_queries_show_it(gateway: Gateway) -> None:
    before = await gateway.data(f'{{ group(id: "{group_id(201)}") {{ memberCount }} }}')
    assert before["group"]["memberCount"] == 7
    gateway.clear_logs()
    async with gateway.services.events.subscribe() as events:
        payload = await mutate(
            gateway,
            "createUser",
            {
                "firstName": " Nora ",
                "lastName": "Quill",
                "email": "nora.quill@example.com",
                "username": "nora.q",
                "employeeNumber": "E9001",
                "roles": ["SUPERVISOR", "TRAINEE"],
                "timeZone": "Europe/London",
                "groupIds": [group_id(201)],
                "supervisedGroupIds": [group_id(202)],
            },
            f"user {{ {USER} }} {ERRORS}",
        )
        event = await next_event(events)
    assert payload["userErrors"] == []
    user = payload["user"]
    native = int(native_id(user["id"]))
    assert (user["firstName"], user["lastName"], user["username"]) == ("Nora", "Quill", "nora.q")
    assert user["roles"] == ["SUPERVISOR", "TRAINEE"] and user["active"] is True
    assert user["groups"] == [{"id": group_id(201)}] and user["supervisedGroups"] == [{"id": group_id(202)}]
    held = state(gateway).users[native]
    assert (held.first_name, held.email_address, held.employee_number) == (
        "Nora",
        "nora.quill@example.com",
        "E9001",
    )
    assert held.roles == [5, 6] and held.time_zone == "Europe/London"
    assert native in state(gateway).groups[201].member_ids
    assert native in state(gateway).groups[202].supervisor_ids
    log = gateway.log(Source.DAMSTRA)
    assert log.count("POST", "/user") == 1
    body = orjson.loads(next(e.body for e in log.entries if e.method == "POST"))
    assert body["groups"] == [{"id": 201}] and "password" not in body
    assert (event.type, event.user_id) == (TrainingEventType.USER_CREATED, str(native))
    after = await gateway.data(f'{{ group(id: "{group_id(201)}") {{ memberCount }} }}')
    assert after["group"]["memberCount"] == 8  # the cached group was dropped


async def test_create_user_without_a_username_gets_one_from_damstra(gateway: Gateway) -> None:
    payload = await mutate(
        gateway,
        "createUser",
        {"firstName": "Ada", "lastName": "Lovelace"},
        f"user {{ username roles }} {ERRORS}",
    )
    assert payload["userErrors"] == []
    assert payload["user"] == {"username": "ada.lovelace", "roles": ["TRAINEE"]}


async def test_create_user_bad_input_is_named_field_by_field_and_nothing_is_sent(gateway: Gateway) -> None:
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        "createUser",
        {
            "firstName": "  ",
            "lastName": "Quill",
            "email": "not-an-email",
            "roles": [],
            "timeZone": "Mars/Olympus",
            "groupIds": ["not-an-id", damstra_user_id(10000)],
        },
        f"user {{ id }} {ERRORS}",
    )
    assert payload["user"] is None
    assert codes(payload) == [
        (["firstName"], "INVALID_INPUT"),
        (["email"], "INVALID_INPUT"),
        (["roles"], "INVALID_INPUT"),
        (["timeZone"], "INVALID_INPUT"),
        (["groupIds", "0"], "INVALID_INPUT"),
        (["groupIds", "1"], "INVALID_INPUT"),
    ]
    assert gateway.log(Source.DAMSTRA).entries == []


async def test_create_user_refuses_unknown_and_foreign_groups_before_writing(gateway: Gateway) -> None:
    gateway.clear_logs()
    foreign = await mutate(
        gateway,
        "createUser",
        {"firstName": "A", "lastName": "B", "groupIds": [gid("Group:iscout:abc")]},
        ERRORS,
    )
    assert codes(foreign) == [(["groupIds", "0"], "NOT_SUPPORTED_BY_SOURCE")]
    assert gateway.log(Source.DAMSTRA).entries == []
    unknown = await mutate(
        gateway,
        "createUser",
        {"firstName": "A", "lastName": "B", "supervisedGroupIds": [group_id(999)]},
        ERRORS,
    )
    assert codes(unknown) == [(["supervisedGroupIds", "0"], "NOT_FOUND")]
    assert gateway.log(Source.DAMSTRA).count("POST") == 0


async def test_create_user_with_a_taken_username_is_refused_before_writing(gateway: Gateway) -> None:
    users_before = len(state(gateway).users)
    gateway.clear_logs()
    payload = await mutate(
        gateway, "createUser", {"firstName": "A", "lastName": "B", "username": "AVASMITH0"}, ERRORS
    )
    assert codes(payload) == [(["username"], "USERNAME_TAKEN")]
    assert gateway.log(Source.DAMSTRA).count("POST") == 0 and len(state(gateway).users) == users_before


async def test_create_user_upstream_refusals_are_user_errors_and_never_resent(gateway: Gateway) -> None:
    users_before = len(state(gateway).users)
    controls = gateway.sandbox.controls[Source.DAMSTRA]
    controls.credential = "rotated"
    payload = await mutate(
        gateway, "createUser", {"firstName": "A", "lastName": "B"}, f"user {{ id }} {ERRORS}"
    )
    assert payload["user"] is None and codes(payload) == [(None, "UPSTREAM_UNAUTHORIZED")]
    assert "sandbox-damstra-access-key" not in str(payload)
    controls.credential = "sandbox-damstra-access-key"
    gateway.clear_logs()
    controls.faults.fail_next = 1
    payload = await mutate(gateway, "createUser", {"firstName": "A", "lastName": "B"}, ERRORS)
    assert codes(payload) == [(None, "UPSTREAM_UNAVAILABLE")]
    assert gateway.log(Source.DAMSTRA).count("POST", "/user") == 1  # a write is sent once
    assert len(state(gateway).users) == users_before


async def test_create_user_replays_an_idempotency_key(gateway: Gateway) -> None:
    log = gateway.log(Source.DAMSTRA)
    value = {"firstName": "Once", "lastName": "Only", "idempotencyKey": "k-1"}
    selection = f"user {{ id username }} {ERRORS}"
    first = await mutate(gateway, "createUser", value, selection)
    again = await mutate(gateway, "createUser", value, selection)
    assert first == again and first["user"]["id"]
    assert log.count("POST", "/user") == 1

    concurrent = {"firstName": "Twice", "lastName": "Together", "idempotencyKey": "k-2"}
    a, b = await asyncio.gather(
        mutate(gateway, "createUser", concurrent, selection),
        mutate(gateway, "createUser", concurrent, selection),
    )
    assert a == b and a["user"]["id"] != first["user"]["id"]
    assert log.count("POST", "/user") == 2

    reused = await mutate(gateway, "createUser", {**value, "lastName": "Other"}, selection)
    assert reused["user"] is None and codes(reused) == [(["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")]
    assert log.count("POST", "/user") == 2
    assert sum(u.last_name in ("Only", "Together") for u in state(gateway).users.values()) == 2


async def test_create_user_timeout_is_unknown_and_its_repeat_never_creates_blindly(
    loopback_gateway: Gateway,
) -> None:
    gateway = loopback_gateway
    # DAMSTRA creates the user but answers too late.
    gateway.sandbox.controls[Source.DAMSTRA].faults.slow_next_write = 1
    value = {"firstName": "Slow", "lastName": "Poke", "idempotencyKey": "slow-1"}
    payload = await mutate(gateway, "createUser", value, f"user {{ id }} {ERRORS}")
    assert payload["user"] is None and codes(payload) == [(None, "UPSTREAM_TIMEOUT")]
    assert "not re-sent" in payload["userErrors"][0]["message"]
    assert gateway.writes(Source.DAMSTRA) == ["POST /user"]
    assert [u.last_name for u in state(gateway).users.values()].count("Poke") == 1  # it did happen, once
    # DAMSTRA cannot be asked whether the user was made: the same key answers OUTCOME_UNKNOWN, and
    # never sends the write again.
    again = await mutate(gateway, "createUser", value, f"user {{ id }} {ERRORS}")
    assert again["user"] is None and codes(again) == [(None, "OUTCOME_UNKNOWN")]
    assert await mutate(gateway, "createUser", value, f"user {{ id }} {ERRORS}") == again
    assert gateway.writes(Source.DAMSTRA) == ["POST /user"]


# -- updateUser -----------------------------------------------------------------------------------


async def test_update_user_changes_only_what_is_given_and_later_queries_show_it(gateway: Gateway) -> None:
    query = f'{{ user(id: "{damstra_user_id(10003)}") {{ {USER} }} }} '
    warm = (await gateway.data(query))["user"]
    old_groups = {int(native_id(g["id"])) for g in warm["groups"]}
    assert 205 not in old_groups
    counts = {g: len(state(gateway).groups[g].member_ids) for g in (*old_groups, 205)}
    await gateway.data(f'{{ group(id: "{group_id(205)}") {{ memberCount }} }}')
    held = state(gateway).users[10003]
    phone = held.phone_number
    gateway.clear_logs()
    async with gateway.services.events.subscribe() as events:
        payload = await mutate(
            gateway,
            "updateUser",
            {
                "userId": damstra_user_id(10003),
                "lastName": "Mitchell-Jones",
                "email": "dev.mj@example.com",
                "roles": ["INSTRUCTOR"],
                "groupIds": [group_id(205)],
            },
            f"user {{ {USER} }} {ERRORS}",
        )
        event = await next_event(events)
    assert payload["userErrors"] == []
    assert payload["user"]["lastName"] == "Mitchell-Jones" and payload["user"]["roles"] == ["INSTRUCTOR"]
    assert (held.last_name, held.email_address, held.roles) == ("Mitchell-Jones", "dev.mj@example.com", [8])
    assert held.first_name == "Dev" and held.phone_number == phone  # untouched
    groups = state(gateway).groups
    assert 10003 in groups[205].member_ids and all(10003 not in groups[g].member_ids for g in old_groups)
    log = gateway.log(Source.DAMSTRA)
    sent = next(e for e in log.entries if e.path == "/user/10003" and e.method != "GET")
    assert sent.method == "POST"  # LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD's default
    body = orjson.loads(sent.body)
    # DAMSTRA's Update User requires the whole user: unchanged fields go as DAMSTRA holds them.
    for key in (
        "firstName",
        "lastName",
        "emailAddress",
        "phoneNumber",
        "mobileNumber",
        "employeeNumber",
        "roles",
        "timeZone",
    ):
        assert key in body, key
    assert body["phoneNumber"] == phone
    assert (event.type, event.user_id) == (TrainingEventType.USER_UPDATED, "10003")
    after = (await gateway.data(query))["user"]
    assert after["lastName"] == "Mitchell-Jones" and after["groups"] == [{"id": group_id(205)}]
    count = await gateway.data(f'{{ group(id: "{group_id(205)}") {{ memberCount }} }}')
    assert count["group"]["memberCount"] == counts[205] + 1
    for g in old_groups:
        left = await gateway.data(f'{{ group(id: "{group_id(g)}") {{ memberCount }} }}')
        assert left["group"]["memberCount"] == counts[g] - 1


async def test_update_user_errors(gateway: Gateway) -> None:
    gateway.clear_logs()
    nothing = await mutate(gateway, "updateUser", {"userId": damstra_user_id(10003)}, ERRORS)
    assert codes(nothing) == [(None, "INVALID_INPUT")]
    bad = await mutate(
        gateway, "updateUser", {"userId": group_id(201), "email": "x@", "firstName": ""}, ERRORS
    )
    assert codes(bad) == [
        (["userId"], "INVALID_INPUT"),
        (["firstName"], "INVALID_INPUT"),
        (["email"], "INVALID_INPUT"),
    ]
    assert gateway.log(Source.DAMSTRA).entries == []

    no_account = await mutate(
        gateway, "updateUser", {"userId": no_account_person(gateway), "lastName": "X"}, ERRORS
    )
    assert codes(no_account) == [(["userId"], "NO_ACCOUNT_IN_SOURCE")]
    unknown = await mutate(gateway, "updateUser", {"userId": damstra_user_id(99999), "lastName": "X"}, ERRORS)
    assert codes(unknown) == [(["userId"], "NOT_FOUND")]
    taken = await mutate(
        gateway, "updateUser", {"userId": damstra_user_id(10003), "username": "avasmith0"}, ERRORS
    )
    assert codes(taken) == [(["username"], "USERNAME_TAKEN")]
    assert gateway.log(Source.DAMSTRA).count("POST", "/user") == 0
    own = await mutate(
        gateway, "updateUser", {"userId": damstra_user_id(10003), "username": "DevMitchell3"}, ERRORS
    )
    assert own["userErrors"] == [] and state(gateway).users[10003].user_name == "DevMitchell3"


async def test_update_user_upstream_refusal_changes_nothing(gateway: Gateway) -> None:
    await gateway.data(f'{{ group(id: "{group_id(206)}") {{ name }} }}')  # cached as existing
    state(gateway).groups[206].active = False  # ...and inactivated behind the gateway's back
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        "updateUser",
        {"userId": damstra_user_id(10003), "lastName": "Nope", "groupIds": [group_id(206)]},
        f"user {{ id }} {ERRORS}",
    )
    assert payload["user"] is None and codes(payload) == [(None, "NOT_FOUND")]
    assert gateway.log(Source.DAMSTRA).count("POST", "/user/10003") == 1
    assert state(gateway).users[10003].last_name == "Mitchell"


# -- activateUser / inactivateUser ------------------------------------------------------------------


async def test_inactivate_and_activate_a_user(gateway: Gateway) -> None:
    query = f'{{ user(id: "{damstra_user_id(10003)}") {{ active }} }}'
    assert (await gateway.data(query))["user"]["active"] is True
    bus = gateway.services.events
    async with bus.subscribe() as events:
        off = await mutate(
            gateway, "inactivateUser", {"userId": damstra_user_id(10003)}, f"user {{ active }} {ERRORS}"
        )
        event = await next_event(events)
    assert off == {"user": {"active": False}, "userErrors": []}
    assert state(gateway).users[10003].client_status_id == STATUS_NOT_CURRENT
    assert (event.type, event.user_id) == (TrainingEventType.USER_INACTIVATED, "10003")
    assert (await gateway.data(query))["user"]["active"] is False

    published = bus.published
    again = await mutate(
        gateway, "inactivateUser", {"userId": damstra_user_id(10003)}, f"user {{ active }} {ERRORS}"
    )
    assert again == off and bus.published == published  # nothing changed: no event, as DAMSTRA fires none

    async with bus.subscribe() as events:
        on = await mutate(
            gateway, "activateUser", {"userId": damstra_user_id(10003)}, f"user {{ active }} {ERRORS}"
        )
        event = await next_event(events)
    assert on == {"user": {"active": True}, "userErrors": []}
    assert state(gateway).users[10003].client_status_id == STATUS_ACTIVE
    assert (event.type, event.user_id) == (TrainingEventType.USER_UPDATED, "10003")
    assert (await gateway.data(query))["user"]["active"] is True


async def test_activation_errors(gateway: Gateway) -> None:
    gateway.clear_logs()
    bad = await mutate(gateway, "activateUser", {"userId": "nope"}, ERRORS)
    assert codes(bad) == [(["userId"], "INVALID_INPUT")]
    assert gateway.log(Source.DAMSTRA).entries == []
    no_account = await mutate(gateway, "inactivateUser", {"userId": no_account_person(gateway)}, ERRORS)
    assert codes(no_account) == [(["userId"], "NO_ACCOUNT_IN_SOURCE")]
    unknown = await mutate(gateway, "activateUser", {"userId": damstra_user_id(99999)}, ERRORS)
    assert codes(unknown) == [(["userId"], "NOT_FOUND")]
    assert gateway.log(Source.DAMSTRA).count("POST") == 0


async def test_inactivate_user_replays_and_refuses_a_reused_key(gateway: Gateway) -> None:
    log = gateway.log(Source.DAMSTRA)
    value = {"userId": damstra_user_id(10004), "idempotencyKey": "off-1"}
    a, b = await asyncio.gather(
        mutate(gateway, "inactivateUser", value, f"user {{ active }} {ERRORS}"),
        mutate(gateway, "inactivateUser", value, f"user {{ active }} {ERRORS}"),
    )
    assert a == b == {"user": {"active": False}, "userErrors": []}
    assert await mutate(gateway, "inactivateUser", value, f"user {{ active }} {ERRORS}") == a
    assert log.count("POST", "/user/10004/inactivate") == 1
    reused = await mutate(gateway, "inactivateUser", {**value, "userId": damstra_user_id(10005)}, ERRORS)
    assert codes(reused) == [(["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")]
    assert state(gateway).users[10005].client_status_id == STATUS_ACTIVE


async def test_inactivate_user_timeout_is_settled_by_its_repeat(loopback_gateway: Gateway) -> None:
    gateway = loopback_gateway
    gateway.sandbox.controls[Source.DAMSTRA].faults.slow_next_write = 1
    value = {"userId": damstra_user_id(10003), "idempotencyKey": "off-10003"}
    payload = await mutate(gateway, "inactivateUser", value, f"user {{ id }} {ERRORS}")
    assert payload["user"] is None and codes(payload) == [(None, "UPSTREAM_TIMEOUT")]
    assert gateway.writes(Source.DAMSTRA) == ["POST /user/10003/inactivate"]
    assert state(gateway).users[10003].client_status_id == STATUS_NOT_CURRENT
    again = await mutate(gateway, "inactivateUser", value, f"user {{ id active }} {ERRORS}")
    assert again == {"user": {"id": damstra_user_id(10003), "active": False}, "userErrors": []}
    assert gateway.writes(Source.DAMSTRA) == ["POST /user/10003/inactivate"]
    # The user's cache entry went with the write: the next query reads what DAMSTRA holds now.
    after = await gateway.data(f'{{ user(id: "{damstra_user_id(10003)}") {{ active }} }}')
    assert after["user"]["active"] is False


# -- generateLoginUrl -----------------------------------------------------------------------------


async def test_generate_login_url(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.clear_logs()
    selection = f"url expiresIn user {{ id }} {ERRORS}"
    payload = await mutate(
        gateway, "generateLoginUrl", {"userId": damstra_user_id(10003), "expiresIn": "WEEK"}, selection
    )
    assert payload["userErrors"] == [] and payload["expiresIn"] == "WEEK"
    assert payload["url"].startswith("https://") and payload["user"]["id"] == damstra_user_id(10003)
    log = gateway.log(Source.DAMSTRA)
    assert log.paths()[-1] == "POST /user/10003/generate_login_url?expiresIn=week"
    assert all(payload["url"] not in record.getMessage() for record in caplog.records)

    disabled = await mutate(
        gateway, "generateLoginUrl", {"userId": damstra_user_id(10003), "expiresIn": "DISABLED"}, selection
    )
    assert disabled["url"] is None and disabled["userErrors"] == [] and disabled["expiresIn"] == "DISABLED"

    no_account = await mutate(
        gateway, "generateLoginUrl", {"userId": no_account_person(gateway), "expiresIn": "DAY"}, selection
    )
    assert no_account["url"] is None and codes(no_account) == [(["userId"], "NO_ACCOUNT_IN_SOURCE")]
    assert log.count("POST") == 2


# -- importUsers ----------------------------------------------------------------------------------


IMPORT = f"users {{ id }} results {{ row created user {{ id lastName roles }} {ERRORS} }} {ERRORS}"


async def test_import_users_creates_every_row(gateway: Gateway) -> None:
    rows = [
        {"firstName": "Ivy", "lastName": "Stone", "email": "ivy.stone@example.com", "roles": ["TRAINEE"]},
        {"firstName": "Oscar", "lastName": "Reed", "employeeNumber": "E9100"},
    ]
    gateway.clear_logs()
    async with gateway.services.events.subscribe() as events:
        payload = await mutate(gateway, "importUsers", {"users": rows}, IMPORT)
        seen = [await next_event(events), await next_event(events)]
    assert payload["userErrors"] == []
    results = payload["results"]
    assert [(r["row"], r["created"], r["user"]["lastName"]) for r in results] == [
        (0, True, "Stone"),
        (1, True, "Reed"),
    ]
    ids = [int(native_id(r["user"]["id"])) for r in results]
    assert state(gateway).users[ids[0]].email_address == "ivy.stone@example.com"
    assert state(gateway).users[ids[1]].employee_number == "E9100"
    assert gateway.log(Source.DAMSTRA).count("POST", "/bulkUserImport") == 1
    assert [(e.type, e.user_id) for e in seen] == [(TrainingEventType.USER_CREATED, str(i)) for i in ids]
    found = await gateway.data('{ users(search: "Oscar") { edges { node { id } } } }')
    assert [e["node"]["id"] for e in found["users"]["edges"]] == [results[1]["user"]["id"]]


async def test_import_users_merges_by_email_and_later_queries_show_it(gateway: Gateway) -> None:
    query = f'{{ user(id: "{damstra_user_id(10000)}") {{ lastName roles }} }}'
    assert (await gateway.data(query))["user"] == {"lastName": "Smith", "roles": ["ADMIN", "SUPERVISOR"]}
    rows = [
        {"email": "AVA.SMITH0@example.com", "lastName": "Changed", "roles": ["ADMIN", "SUPERVISOR"]},
        {"firstName": "Bran", "lastName": "New", "email": "bran.new@example.com"},
    ]
    async with gateway.services.events.subscribe() as events:
        payload = await mutate(gateway, "importUsers", {"users": rows, "mergeType": "EMAIL"}, IMPORT)
        seen = [await next_event(events), await next_event(events)]
    assert payload["userErrors"] == []
    merged, made = payload["results"]
    assert merged["created"] is False and merged["user"]["id"] == damstra_user_id(10000)
    assert made["created"] is True and made["user"]["lastName"] == "New"
    assert state(gateway).users[10000].last_name == "Changed"
    assert (await gateway.data(query))["user"] == {"lastName": "Changed", "roles": ["ADMIN", "SUPERVISOR"]}
    assert [e.type for e in seen] == [TrainingEventType.USER_UPDATED, TrainingEventType.USER_CREATED]
    assert seen[0].user_id == "10000"


async def test_import_users_with_invalid_rows_sends_nothing(gateway: Gateway) -> None:
    gateway.clear_logs()
    empty = await mutate(gateway, "importUsers", {"users": []}, IMPORT)
    assert codes(empty) == [(["users"], "INVALID_INPUT")]
    rows = [
        {"firstName": "Ok", "lastName": "Row", "username": "ok.row"},
        {"firstName": "No Last Name"},
        {"firstName": "Bad", "lastName": "Email", "email": "bad@"},
        {"firstName": "Same", "lastName": "Name", "username": "OK.ROW"},
    ]
    payload = await mutate(gateway, "importUsers", {"users": rows}, IMPORT)
    assert [codes(r) for r in payload["results"]] == [
        [],
        [(["users", "1", "lastName"], "INVALID_INPUT")],
        [(["users", "2", "email"], "INVALID_INPUT")],
        [(["users", "3", "username"], "INVALID_INPUT")],
    ]
    assert len(payload["userErrors"]) == 3 and payload["users"] == []
    assert all(r["user"] is None and r["created"] is None for r in payload["results"])
    merge = await mutate(
        gateway,
        "importUsers",
        {"users": [{"lastName": "X"}, {"employeeNumber": "E1"}], "mergeType": "EMP_NO"},
        IMPORT,
    )
    assert codes(merge) == [(["users", "0", "employeeNumber"], "INVALID_INPUT")]
    assert gateway.log(Source.DAMSTRA).entries == []


async def test_import_users_refusal_lands_on_every_row_and_changes_nothing(gateway: Gateway) -> None:
    users_before = len(state(gateway).users)
    rows = [
        {"firstName": "Fine", "lastName": "Row"},
        {"firstName": "Taken", "lastName": "Name", "username": "avasmith0"},
    ]
    payload = await mutate(gateway, "importUsers", {"users": rows, "idempotencyKey": "imp-1"}, IMPORT)
    assert codes(payload) == [(["users"], "UPSTREAM_REJECTED")]
    assert [codes(r) for r in payload["results"]] == [
        [(["users", "0"], "UPSTREAM_REJECTED")],
        [(["users", "1"], "UPSTREAM_REJECTED")],
    ]
    assert len(state(gateway).users) == users_before
    # The same key answers the same refusal without asking DAMSTRA again.
    assert await mutate(gateway, "importUsers", {"users": rows, "idempotencyKey": "imp-1"}, IMPORT) == payload
    assert gateway.log(Source.DAMSTRA).count("POST", "/bulkUserImport") == 1
