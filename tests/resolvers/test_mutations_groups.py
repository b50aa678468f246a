"""The DAMSTRA group writes end to end: what DAMSTRA holds afterwards, what later queries show,
every userError path, idempotent replays and a write whose outcome is unknown."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from gateway.sources import Source
from sandbox.world import DamstraState
from tests.conftest import QUICK_LOOPBACK_TIMEOUT_SECONDS, Gateway
from tests.ids import damstra_user_id, gid, group_id, native_id

ERRORS = "userErrors { field message code }"
GROUP = "id name description memberCount parent { id }"
MEMBERSHIP = f"group {{ id memberCount }} results {{ userId inGroup user {{ id }} {ERRORS} }} {ERRORS}"


def state(gateway: Gateway) -> DamstraState:
    return gateway.sandbox.world.damstra


async def mutate(gateway: Gateway, name: str, value: dict[str, Any], selection: str) -> dict[str, Any]:
    input_type = (
        "GroupUsersInput"
        if name.endswith(("Members", "Supervisors"))
        else name[0].upper() + name[1:] + "Input"
    )
    query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} }} }}"
    payload: dict[str, Any] = (await gateway.data(query, {"input": value}))[name]
    return payload


def codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def member_count(gateway: Gateway, group: int) -> int:
    count: int = (await gateway.data(f'{{ group(id: "{group_id(group)}") {{ memberCount }} }}'))["group"][
        "memberCount"
    ]
    return count


async def groups_of(gateway: Gateway, user: int) -> tuple[list[int], list[int]]:
    query = f'{{ user(id: "{damstra_user_id(user)}") {{ groups {{ id }} supervisedGroups {{ id }} }} }}'
    found = (await gateway.data(query))["user"]
    groups, supervised = found["groups"], found["supervisedGroups"]
    return [int(native_id(g["id"])) for g in groups], [int(native_id(g["id"])) for g in supervised]


def no_account_person(gateway: Gateway) -> str:
    person = next(p for p in gateway.sandbox.world.people if p.damstra_user_id is None and p.iscout_user_id)
    return gid(f"User:iscout:{person.iscout_user_id}")


def outsider(gateway: Gateway, group: int) -> int:
    """A DAMSTRA user who is not a member of `group`, and supervises no group."""
    groups = state(gateway).groups
    bosses = {u for g in groups.values() for u in g.supervisor_ids}
    return next(
        u for u in sorted(state(gateway).users) if u not in groups[group].member_ids and u not in bosses
    )


@pytest.fixture
def loopback_timeout_seconds() -> float:
    return QUICK_LOOPBACK_TIMEOUT_SECONDS


# -- createGroup / updateGroup / inactivateGroup ----------------------------------------------------


async def test_create_group_under_a_parent(gateway: Gateway) -> None:
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        "createGroup",
        {"name": " Night Crew ", "description": "After dark", "parentId": group_id(200)},
        f"group {{ {GROUP} }} {ERRORS}",
    )
    assert payload["userErrors"] == []
    group = payload["group"]
    assert (group["name"], group["description"], group["memberCount"]) == ("Night Crew", "After dark", 0)
    assert group["parent"] == {"id": group_id(200)}
    held = state(gateway).groups[int(native_id(group["id"]))]
    assert (held.name, held.description, held.parent_id, held.active) == (
        "Night Crew",
        "After dark",
        200,
        True,
    )
    assert gateway.log(Source.DAMSTRA).count("POST", "/group") == 1
    found = await gateway.data('{ groups(search: "night") { edges { node { id } } } }')
    assert [e["node"]["id"] for e in found["groups"]["edges"]] == [group["id"]]


async def test_create_group_refusals(gateway: Gateway) -> None:
    gateway.clear_logs()
    blank = await mutate(gateway, "createGroup", {"name": "  ", "parentId": damstra_user_id(10000)}, ERRORS)
    assert codes(blank) == [(["name"], "INVALID_INPUT"), (["parentId"], "INVALID_INPUT")]
    foreign = await mutate(gateway, "createGroup", {"name": "X", "parentId": gid("Group:iscout:abc")}, ERRORS)
    assert codes(foreign) == [(["parentId"], "NOT_SUPPORTED_BY_SOURCE")]
    assert gateway.log(Source.DAMSTRA).entries == []
    unknown = await mutate(
        gateway, "createGroup", {"name": "X", "parentId": group_id(999)}, f"group {{ id }} {ERRORS}"
    )
    assert unknown["group"] is None and codes(unknown) == [(["parentId"], "NOT_FOUND")]
    assert gateway.log(Source.DAMSTRA).count("POST") == 0


async def test_create_group_replays_an_idempotency_key(gateway: Gateway) -> None:
    value = {"name": "Once", "idempotencyKey": "g-1"}
    a, b = await asyncio.gather(
        mutate(gateway, "createGroup", value, f"group {{ id }} {ERRORS}"),
        mutate(gateway, "createGroup", value, f"group {{ id }} {ERRORS}"),
    )
    c = await mutate(gateway, "createGroup", value, f"group {{ id }} {ERRORS}")
    assert a == b == c and a["group"]["id"]
    reused = await mutate(gateway, "createGroup", {**value, "name": "Twice"}, f"group {{ id }} {ERRORS}")
    assert codes(reused) == [(["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")]
    assert gateway.log(Source.DAMSTRA).count("POST", "/group") == 1
    assert [g.name for g in state(gateway).groups.values()].count("Once") == 1


async def test_update_group_changes_what_is_given_and_later_queries_show_it(gateway: Gateway) -> None:
    query = f'{{ group(id: "{group_id(201)}") {{ {GROUP} }} }}'
    assert (await gateway.data(query))["group"]["name"] == "Depot 2"
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        "updateGroup",
        {"groupId": group_id(201), "name": "Depot Two"},
        f"group {{ {GROUP} }} {ERRORS}",
    )
    assert payload["userErrors"] == []
    assert payload["group"]["name"] == "Depot Two" and payload["group"]["description"] == "Training group 2"
    held = state(gateway).groups[201]
    assert (held.name, held.description, held.parent_id) == ("Depot Two", "Training group 2", None)
    write = next(e for e in gateway.log(Source.DAMSTRA).entries if e.method == "POST")
    # DAMSTRA's documented update wants name and description: the unchanged one goes as DAMSTRA holds it.
    assert (write.path, orjson.loads(write.body)) == (
        "/group/201",
        {"name": "Depot Two", "description": "Training group 2"},
    )
    assert (await gateway.data(query))["group"]["name"] == "Depot Two"

    moved = await mutate(
        gateway,
        "updateGroup",
        {"groupId": group_id(201), "parentId": group_id(200)},
        f"group {{ {GROUP} }} {ERRORS}",
    )
    assert moved["group"]["parent"] == {"id": group_id(200)} and held.parent_id == 200
    described = await mutate(gateway, "updateGroup", {"groupId": group_id(201), "description": ""}, ERRORS)
    assert described["userErrors"] == [] and held.description == "" and held.parent_id == 200
    assert (await gateway.data(query))["group"]["parent"] == {"id": group_id(200)}


async def test_update_group_refusals(gateway: Gateway) -> None:
    gateway.clear_logs()
    nothing = await mutate(gateway, "updateGroup", {"groupId": group_id(201)}, ERRORS)
    assert codes(nothing) == [(None, "INVALID_INPUT")]
    own_parent = await mutate(
        gateway, "updateGroup", {"groupId": group_id(201), "parentId": group_id(201)}, ERRORS
    )
    assert codes(own_parent) == [(["parentId"], "INVALID_INPUT")]
    blank = await mutate(gateway, "updateGroup", {"groupId": damstra_user_id(10000), "name": ""}, ERRORS)
    assert codes(blank) == [(["groupId"], "INVALID_INPUT"), (["name"], "INVALID_INPUT")]
    assert gateway.log(Source.DAMSTRA).entries == []
    # 203 sits below 200: 200 cannot move below 203.
    cycle = await mutate(
        gateway, "updateGroup", {"groupId": group_id(200), "parentId": group_id(203)}, ERRORS
    )
    assert codes(cycle) == [(["parentId"], "INVALID_INPUT")]
    unknown = await mutate(gateway, "updateGroup", {"groupId": group_id(999), "name": "X"}, ERRORS)
    assert codes(unknown) == [(["groupId"], "NOT_FOUND")]
    assert gateway.log(Source.DAMSTRA).count("POST") == 0
    assert state(gateway).groups[200].parent_id is None


async def test_inactivate_group_drops_it_from_queries_and_memberships(gateway: Gateway) -> None:
    member = state(gateway).groups[204].member_ids[0]
    assert 204 in (await groups_of(gateway, member))[0]
    await member_count(gateway, 204)
    gateway.clear_logs()
    payload = await mutate(
        gateway, "inactivateGroup", {"groupId": group_id(204)}, f"inactivatedGroupId {ERRORS}"
    )
    assert payload == {"inactivatedGroupId": group_id(204), "userErrors": []}
    assert state(gateway).groups[204].active is False
    assert gateway.log(Source.DAMSTRA).count("POST", "/group/204/inactivate") == 1
    body = await gateway.query(f'{{ group(id: "{group_id(204)}") {{ name }} }}')
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert 204 not in (await groups_of(gateway, member))[0]
    again = await mutate(
        gateway, "inactivateGroup", {"groupId": group_id(204)}, f"inactivatedGroupId {ERRORS}"
    )
    assert again["inactivatedGroupId"] is None and codes(again) == [(["groupId"], "NOT_FOUND")]


async def test_inactivate_group_timeout_is_settled_by_its_repeat(loopback_gateway: Gateway) -> None:
    gateway = loopback_gateway
    # DAMSTRA inactivates the group but answers too late.
    gateway.sandbox.controls[Source.DAMSTRA].faults.slow_next_write = 1
    value = {"groupId": group_id(204), "idempotencyKey": "off-204"}
    payload = await mutate(gateway, "inactivateGroup", value, f"inactivatedGroupId {ERRORS}")
    assert payload["inactivatedGroupId"] is None and codes(payload) == [(None, "UPSTREAM_TIMEOUT")]
    assert gateway.writes(Source.DAMSTRA) == ["POST /group/204/inactivate"]
    assert state(gateway).groups[204].active is False  # it did happen
    # The same key finds the group gone and says it is done; it never sends the write again.
    again = await mutate(gateway, "inactivateGroup", value, f"inactivatedGroupId alreadyDone {ERRORS}")
    assert again == {"inactivatedGroupId": group_id(204), "alreadyDone": True, "userErrors": []}
    assert gateway.writes(Source.DAMSTRA) == ["POST /group/204/inactivate"]


# -- members and supervisors --------------------------------------------------------------------


async def test_add_group_members_one_result_per_user(gateway: Gateway) -> None:
    newcomer = outsider(gateway, 201)
    already = state(gateway).groups[201].member_ids[0]
    count = await member_count(gateway, 201)
    assert 201 not in (await groups_of(gateway, newcomer))[0]
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        "addGroupMembers",
        {
            "groupId": group_id(201),
            "userIds": [
                damstra_user_id(newcomer),
                damstra_user_id(already),
                "junk",
                no_account_person(gateway),
                damstra_user_id(newcomer),
            ],
        },
        MEMBERSHIP,
    )
    results = payload["results"]
    assert [(r["inGroup"], codes(r)) for r in results] == [
        (True, []),
        (True, []),  # already a member: done already
        (None, [(["userIds", "2"], "INVALID_INPUT")]),
        (None, [(["userIds", "3"], "NO_ACCOUNT_IN_SOURCE")]),
        (None, [(["userIds", "4"], "INVALID_INPUT")]),
    ]
    assert results[0]["user"] == {"id": damstra_user_id(newcomer)} and results[2]["user"] is None
    assert len(payload["userErrors"]) == 3
    assert payload["group"] == {"id": group_id(201), "memberCount": count + 1}
    assert newcomer in state(gateway).groups[201].member_ids
    write = next(e for e in gateway.log(Source.DAMSTRA).entries if e.method == "POST")
    assert (write.path, orjson.loads(write.body)) == (
        "/group/201/add_members",
        {"userIds": [newcomer, already]},
    )
    assert await member_count(gateway, 201) == count + 1
    assert 201 in (await groups_of(gateway, newcomer))[0]


async def test_remove_group_members(gateway: Gateway) -> None:
    leaving = state(gateway).groups[202].member_ids[0]
    never = outsider(gateway, 202)
    count = await member_count(gateway, 202)
    assert 202 in (await groups_of(gateway, leaving))[0]
    payload = await mutate(
        gateway,
        "removeGroupMembers",
        {"groupId": group_id(202), "userIds": [damstra_user_id(leaving), damstra_user_id(never)]},
        MEMBERSHIP,
    )
    assert payload["userErrors"] == [] and [r["inGroup"] for r in payload["results"]] == [False, False]
    assert payload["group"]["memberCount"] == count - 1
    assert leaving not in state(gateway).groups[202].member_ids
    assert await member_count(gateway, 202) == count - 1
    assert 202 not in (await groups_of(gateway, leaving))[0]


async def test_add_and_remove_group_supervisors(gateway: Gateway) -> None:
    boss = outsider(gateway, 203)
    assert (await groups_of(gateway, boss))[1] == []
    added = await mutate(
        gateway,
        "addGroupSupervisors",
        {"groupId": group_id(203), "userIds": [damstra_user_id(boss)]},
        MEMBERSHIP,
    )
    assert added["userErrors"] == [] and added["results"][0]["inGroup"] is True
    assert (
        boss in state(gateway).groups[203].supervisor_ids
        and boss not in state(gateway).groups[203].member_ids
    )
    assert (await groups_of(gateway, boss))[1] == [203]
    removed = await mutate(
        gateway,
        "removeGroupSupervisors",
        {"groupId": group_id(203), "userIds": [damstra_user_id(boss)]},
        MEMBERSHIP,
    )
    assert removed["userErrors"] == [] and removed["results"][0]["inGroup"] is False
    assert boss not in state(gateway).groups[203].supervisor_ids
    assert (await groups_of(gateway, boss))[1] == []
    assert gateway.log(Source.DAMSTRA).count("POST", "/group/203/add_supervisors") == 1
    assert gateway.log(Source.DAMSTRA).count("POST", "/group/203/remove_supervisors") == 1


async def test_membership_input_is_checked_before_anything_is_sent(gateway: Gateway) -> None:
    gateway.clear_logs()
    empty = await mutate(gateway, "addGroupMembers", {"groupId": group_id(201), "userIds": []}, MEMBERSHIP)
    assert codes(empty) == [(["userIds"], "INVALID_INPUT")]
    wrong_type = await mutate(
        gateway,
        "addGroupMembers",
        {"groupId": damstra_user_id(10000), "userIds": [damstra_user_id(10001)]},
        MEMBERSHIP,
    )
    assert codes(wrong_type) == [(["groupId"], "INVALID_INPUT")]
    foreign = await mutate(
        gateway,
        "removeGroupMembers",
        {"groupId": gid("Group:learninglogin:7"), "userIds": [damstra_user_id(10001)]},
        MEMBERSHIP,
    )
    assert codes(foreign) == [(["groupId"], "NOT_SUPPORTED_BY_SOURCE")]
    junk = await mutate(
        gateway,
        "addGroupSupervisors",
        {"groupId": group_id(201), "userIds": ["junk", group_id(202)]},
        MEMBERSHIP,
    )
    assert codes(junk) == [(["userIds", "0"], "INVALID_INPUT"), (["userIds", "1"], "INVALID_INPUT")]
    assert gateway.log(Source.DAMSTRA).entries == []
    unknown_group = await mutate(
        gateway,
        "addGroupMembers",
        {"groupId": group_id(999), "userIds": [damstra_user_id(10001)]},
        MEMBERSHIP,
    )
    assert codes(unknown_group) == [(["groupId"], "NOT_FOUND")]
    unknown_user = await mutate(
        gateway,
        "addGroupMembers",
        {"groupId": group_id(201), "userIds": [damstra_user_id(99999)]},
        MEMBERSHIP,
    )
    assert codes(unknown_user) == [(["userIds", "0"], "NOT_FOUND")]
    assert unknown_user["results"][0]["inGroup"] is None
    assert gateway.log(Source.DAMSTRA).count("POST") == 0


async def test_membership_refusal_lands_on_every_user(gateway: Gateway) -> None:
    newcomer = outsider(gateway, 205)
    await member_count(gateway, 205)  # cached as existing...
    state(gateway).groups[205].active = False  # ...and inactivated behind the gateway's back
    payload = await mutate(
        gateway,
        "addGroupMembers",
        {
            "groupId": group_id(205),
            "userIds": [
                damstra_user_id(newcomer),
                damstra_user_id(state(gateway).groups[205].member_ids[0]),
            ],
        },
        MEMBERSHIP,
    )
    assert [codes(r) for r in payload["results"]] == [[(["groupId"], "NOT_FOUND")]] * 2
    assert newcomer not in state(gateway).groups[205].member_ids
    assert gateway.log(Source.DAMSTRA).count("POST", "/group/205/add_members") == 1


async def test_membership_writes_replay_an_idempotency_key(gateway: Gateway) -> None:
    newcomer = outsider(gateway, 206)
    value = {"groupId": group_id(206), "userIds": [damstra_user_id(newcomer)], "idempotencyKey": "m-1"}
    a, b = await asyncio.gather(
        mutate(gateway, "addGroupMembers", value, MEMBERSHIP),
        mutate(gateway, "addGroupMembers", value, MEMBERSHIP),
    )
    assert a == b and a["results"][0]["inGroup"] is True
    assert await mutate(gateway, "addGroupMembers", value, MEMBERSHIP) == a
    assert gateway.log(Source.DAMSTRA).count("POST", "/group/206/add_members") == 1
    reused = await mutate(
        gateway, "addGroupMembers", {**value, "userIds": [damstra_user_id(10000)]}, MEMBERSHIP
    )
    assert codes(reused) == [(["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")]
    # One key per operation: the same key on another mutation is its own.
    other = await mutate(gateway, "removeGroupMembers", value, MEMBERSHIP)
    assert other["userErrors"] == [] and newcomer not in state(gateway).groups[206].member_ids


async def test_membership_timeout_is_settled_by_its_repeat_and_not_resent(loopback_gateway: Gateway) -> None:
    gateway = loopback_gateway
    newcomer = outsider(gateway, 201)
    gateway.sandbox.controls[Source.DAMSTRA].faults.slow_next_write = 1
    value = {"groupId": group_id(201), "userIds": [damstra_user_id(newcomer)], "idempotencyKey": "slow-m"}
    payload = await mutate(gateway, "addGroupMembers", value, MEMBERSHIP)
    assert [codes(r) for r in payload["results"]] == [[(["userIds", "0"], "UPSTREAM_TIMEOUT")]]
    assert payload["results"][0]["inGroup"] is None
    assert gateway.writes(Source.DAMSTRA) == ["POST /group/201/add_members"]
    assert state(gateway).groups[201].member_ids.count(newcomer) == 1  # it did happen, once
    # The same key reads the user, finds them a member, and says it was done already.
    again = await mutate(
        gateway, "addGroupMembers", value, f"results {{ inGroup alreadyDone {ERRORS} }} {ERRORS}"
    )
    assert again == {"results": [{"inGroup": True, "alreadyDone": True, "userErrors": []}], "userErrors": []}
    assert gateway.writes(Source.DAMSTRA) == ["POST /group/201/add_members"]
