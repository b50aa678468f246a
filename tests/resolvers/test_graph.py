"""The read graph end to end over the in-process sandbox."""

from __future__ import annotations

from gateway.sources import Source
from tests.conftest import Gateway
from tests.ids import gid


async def test_group_members_schedules_lessons_make_no_n_plus_one(gateway: Gateway) -> None:
    query = """query($id: ID!) { group(id: $id) { name members(first: 10) { totalCount edges { node {
        fullName schedules(source: DAMSTRA) { edges { node { status lesson { name } } } } } } } } }"""
    gateway.clear_logs()
    data = await gateway.data(query, {"id": gid("Group:damstra:200")})
    members = data["group"]["members"]["edges"]
    assert len(members) == 10
    log = gateway.log(Source.DAMSTRA)
    # group + member page + one schedule list per member + one batched lesson read
    assert log.count("GET", "/group/200") == 2
    assert log.count("GET", "/user/") == 10
    assert log.count("GET", "/lesson") == 1
    assert len(log.entries) == 13


async def test_a_person_is_found_by_any_account_and_keeps_one_id(gateway: Gateway) -> None:
    person = next(p for p in gateway.sandbox.world.people if p.damstra_user_id and p.iscout_user_id)
    query = "query($id: ID!) { user(id: $id) { id fullName accounts { source nativeId } } }"
    by_damstra = await gateway.data(query, {"id": gid(f"User:damstra:{person.damstra_user_id}")})
    by_iscout = await gateway.data(query, {"id": gid(f"User:iscout:{person.iscout_user_id}")})
    assert (
        by_damstra["user"]["id"] == by_iscout["user"]["id"] == gid(f"User:damstra:{person.damstra_user_id}")
    )
    sources = {a["source"] for a in by_iscout["user"]["accounts"]}
    assert {"DAMSTRA", "ISCOUT"} <= sources


async def test_completions_merge_newest_first_and_page_without_repeats(gateway: Gateway) -> None:
    person = next(p for p in gateway.sandbox.world.people if p.index == 0)
    query = """query($id: ID!, $after: String) { user(id: $id) { completions(first: 4, after: $after) {
        pageInfo { hasNextPage endCursor } edges { node { id source completedAt } } } } }"""
    seen: list[dict[str, str]] = []
    after = None
    while True:
        data = await gateway.data(
            query, {"id": gid(f"User:damstra:{person.damstra_user_id}"), "after": after}
        )
        connection = data["user"]["completions"]
        seen += [e["node"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len({n["id"] for n in seen}) == len(seen) > 4
    times = [n["completedAt"] for n in seen]
    assert times == sorted(times, reverse=True)
    assert len({n["source"] for n in seen}) >= 2


async def test_bad_input_gets_clear_errors(gateway: Gateway) -> None:
    body = await gateway.query('{ user(id: "not-an-id") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"
    body = await gateway.query("{ groups(first: -1) { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await gateway.query(f'{{ group(id: "{gid("Group:damstra:999999")}") {{ name }} }}')
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_an_upstream_outage_nulls_only_its_part(gateway: Gateway) -> None:
    gateway.sandbox.controls[Source.ISCOUT].faults.error_rate = 1.0
    person = next(p for p in gateway.sandbox.world.people if p.index == 0)
    query = """query($id: ID!) { user(id: $id) { fullName completions(first: 50) { edges { node { source } } } } }"""
    body = await gateway.query(query, {"id": gid(f"User:damstra:{person.damstra_user_id}")})
    assert body["data"]["user"]["fullName"]
    assert {e["node"]["source"] for e in body["data"]["user"]["completions"]["edges"]} - {"ISCOUT"}
    codes = {(e["extensions"]["code"], e["extensions"]["source"]) for e in body["errors"]}
    assert ("UPSTREAM_UNAVAILABLE", "ISCOUT") in codes
    assert "sandbox-iscout-token" not in str(body)
