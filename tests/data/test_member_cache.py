"""DAMSTRA's group member pages kept across requests (`gateway.data.cache`, kind `group_members`; README
"How fresh is an answer"): a warm page reads nothing upstream, and every way a page is dropped, expires,
is read afresh or is not kept at all; cached pages are filtered for each caller like fresh ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.data.callers import Caller, PersonRef, Role
from gateway.server.webhooks import SECRET_HEADER
from gateway.sources import Source
from sandbox.server import Sandbox
from sandbox.world import STATUS_ACTIVE
from tests.conftest import Gateway
from tests.data.webhooked import SECRET, served
from tests.ids import damstra_user_id, gid

GROUP = 200
MEMBERS = """query($id: ID!) { group(id: $id) { members(first: 100) { edges { node { id } } } } }"""


def page_reads(gateway: Gateway, group: int = GROUP) -> int:
    return gateway.log(Source.DAMSTRA).count("GET", f"/group/{group}/member")


async def members(gateway: Gateway, group: int = GROUP) -> set[str]:
    data = await gateway.data(MEMBERS, {"id": gid(f"Group:damstra:{group}")})
    return {e["node"]["id"] for e in data["group"]["members"]["edges"]}


def outsider(gateway: Gateway, group: int = GROUP) -> int:
    """An active DAMSTRA user not in `group`."""
    inside = set(gateway.sandbox.world.damstra.groups[group].member_ids)
    users = gateway.sandbox.world.damstra.users
    return next(
        uid for uid, row in users.items() if uid not in inside and row.client_status_id == STATUS_ACTIVE
    )


def join_upstream_only(gateway: Gateway, user: int, group: int = GROUP) -> str:
    """`user` joins `group` in DAMSTRA behind LearnGraph's back (as in DAMSTRA's own app)."""
    gateway.sandbox.world.damstra.groups[group].member_ids.append(user)
    return damstra_user_id(user)


async def test_a_second_read_of_a_member_page_sends_no_request(hooked: Gateway) -> None:
    first = await members(hooked)
    assert page_reads(hooked) == 1
    hooked.clear_logs()
    assert await members(hooked) == first
    assert hooked.log(Source.DAMSTRA).paths() == []


async def test_a_cached_pages_members_are_made_users_once_and_a_changed_one_anew(
    hooked: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolvers.user import User

    made: list[str] = []
    from_person = User.from_person

    def counting(person: Any) -> User:
        made.append(person.primary.native_id)
        return from_person(person)

    monkeypatch.setattr(User, "from_person", staticmethod(counting))
    query = (
        """query($id: ID!) { group(id: $id) { members(first: 100) { edges { node { id fullName } } } } }"""
    )
    variables = {"id": gid(f"Group:damstra:{GROUP}")}
    first = await hooked.data(query, variables)
    count = len(first["group"]["members"]["edges"])
    assert len(made) == count
    assert await hooked.data(query, variables) == first
    assert len(made) == count  # the same records: the same users
    # A member renamed in DAMSTRA, and the page read afresh: the new record makes a new user.
    member = int(hooked.sandbox.world.damstra.groups[GROUP].member_ids[0])
    hooked.sandbox.world.damstra.users[member].first_name = "Renamed"
    answer = await hooked.http.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"Cache-Control": "no-cache"}
    )
    renamed = answer.json()["data"]
    assert len(made) == 2 * count
    names = {e["node"]["id"]: e["node"]["fullName"] for e in renamed["group"]["members"]["edges"]}
    assert names[damstra_user_id(member)].startswith("Renamed ")


async def test_member_lookups_are_counted_as_their_own_cache_kind(hooked: Gateway) -> None:
    from gateway.telemetry.metrics import CACHE_HITS, CACHE_MISSES

    misses, hits = CACHE_MISSES["group_members"]._value.get(), CACHE_HITS["group_members"]._value.get()
    await members(hooked)
    await members(hooked)
    assert CACHE_MISSES["group_members"]._value.get() == misses + 1
    assert CACHE_HITS["group_members"]._value.get() == hits + 1


# -- each way a page is dropped ------------------------------------------------------------------

UPDATE_GROUP = """mutation($id: ID!) { updateGroup(input: {groupId: $id, name: "Renamed"}) {
    userErrors { code } } }"""
INACTIVATE_GROUP = """mutation($id: ID!) { inactivateGroup(input: {groupId: $id}) { userErrors { code } } }"""
ADD = """mutation($g: ID!, $u: ID!) { addGroupMembers(input: {groupId: $g, userIds: [$u]}) {
    userErrors { code } } }"""
REMOVE = """mutation($g: ID!, $u: ID!) { removeGroupMembers(input: {groupId: $g, userIds: [$u]}) {
    userErrors { code } } }"""
ACTIVATE = """mutation($u: ID!) { activateUser(input: {userId: $u}) { userErrors { code } } }"""
INACTIVATE = """mutation($u: ID!) { inactivateUser(input: {userId: $u}) { userErrors { code } } }"""


async def test_adding_and_removing_members_through_learngraph_shows_at_once(hooked: Gateway) -> None:
    before = await members(hooked)
    user = damstra_user_id(outsider(hooked))
    group = gid(f"Group:damstra:{GROUP}")
    assert (await hooked.data(ADD, {"g": group, "u": user}))["addGroupMembers"]["userErrors"] == []
    assert await members(hooked) == before | {user}
    assert (await hooked.data(REMOVE, {"g": group, "u": user}))["removeGroupMembers"]["userErrors"] == []
    assert await members(hooked) == before


@pytest.mark.parametrize("write", ["updateGroup", "inactivateGroup", "inactivateUser", "activateUser"])
async def test_an_own_write_that_may_move_members_drops_every_cached_page(
    hooked: Gateway, write: str
) -> None:
    before = await members(hooked)
    joined = join_upstream_only(hooked, outsider(hooked))
    assert await members(hooked) == before and page_reads(hooked) == 1  # kept: stale
    other_group = next(g for g in hooked.sandbox.world.damstra.groups if g != GROUP)
    member = sorted(hooked.sandbox.world.damstra.groups[GROUP].member_ids)[0]
    query, variables = {
        "updateGroup": (UPDATE_GROUP, {"id": gid(f"Group:damstra:{GROUP}")}),
        "inactivateGroup": (INACTIVATE_GROUP, {"id": gid(f"Group:damstra:{other_group}")}),
        "inactivateUser": (INACTIVATE, {"u": damstra_user_id(member)}),
        "activateUser": (ACTIVATE, {"u": damstra_user_id(member)}),
    }[write]
    payload = await hooked.data(query, variables)
    assert payload[write]["userErrors"] == []
    reads = page_reads(hooked)
    assert joined in await members(hooked)
    assert page_reads(hooked) == reads + 1


@pytest.mark.parametrize(
    "event", ["user.account.created", "user.settings.updated", "user.account.inactivate"]
)
async def test_a_damstra_user_webhook_drops_every_cached_page(hooked: Gateway, event: str) -> None:
    before = await members(hooked)
    user = outsider(hooked)
    joined = join_upstream_only(hooked, user)
    assert await members(hooked) == before  # kept: stale
    body = {"name": event, "userId": str(user), "timeStamp": datetime.now(UTC).isoformat()}
    response = await hooked.http.post("/webhooks/damstra", json=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 202, response.text
    assert await members(hooked) == before | {joined}
    assert page_reads(hooked) == 2


async def test_a_dropped_page_is_dropped_on_every_replica_too(hooked: Gateway) -> None:
    told: list[tuple[str, str | None, object]] = []
    cache = hooked.services.cache
    previous = cache.on_invalidate
    cache.on_invalidate = lambda kind, scope, key: told.append((kind, scope, key))
    try:
        await members(hooked)
        cache.invalidate("user", str(hooked.services.upstreams.cache_scope(Source.DAMSTRA)), "10001")
    finally:
        cache.on_invalidate = previous
    assert [kind for kind, _, _ in told] == ["user"]
    # What a replica does with that entry (`gateway.data.shared.invalidation`): its pages go too.
    await members(hooked)
    reads = page_reads(hooked)
    cache.drop("user", told[0][1], told[0][2])
    await members(hooked)
    assert page_reads(hooked) == reads + 1


# -- expiry, reading fresh, the switch --------------------------------------------------------------


async def test_a_page_expires_after_the_group_ttl(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    async with served(sandbox, sandbox_transport, tmp_path, group_cache_ttl_seconds="0.2") as gateway:
        await members(gateway)
        await members(gateway)
        assert page_reads(gateway) == 1
        await asyncio.sleep(0.25)
        await members(gateway)
        assert page_reads(gateway) == 2


async def test_cache_control_no_cache_reads_the_page_fresh_and_keeps_it(hooked: Gateway) -> None:
    before = await members(hooked)
    joined = join_upstream_only(hooked, outsider(hooked))
    assert await members(hooked) == before
    fresh = await hooked.http.post(
        "/graphql",
        json={"query": MEMBERS, "variables": {"id": gid(f"Group:damstra:{GROUP}")}},
        headers={"Cache-Control": "no-cache"},
    )
    assert joined in str(fresh.json()["data"]) and page_reads(hooked) == 2
    assert joined in await members(hooked)  # what it read is kept for the next ones
    assert page_reads(hooked) == 2


async def test_with_the_cross_request_cache_off_every_page_is_read_upstream(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    async with served(sandbox, sandbox_transport, tmp_path, cross_request_cache="false") as gateway:
        first = await members(gateway)
        assert await members(gateway) == first
        assert page_reads(gateway) == 2
        assert not gateway.services.cache.keeps("group_members")


# -- access over cached pages ---------------------------------------------------------------------


async def test_a_cached_page_is_filtered_for_each_caller(hooked: Gateway) -> None:
    """Pages an ADMIN's reads kept never reach anyone else: a SUPERVISOR or TRAINEE is answered from
    their visible set (`Listings.group_members`), the cached page is the upstream's whole answer."""
    supervisor = Caller("supervisor-key", Role.SUPERVISOR, PersonRef.parse("damstra:10000"))
    trainee = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("Bea.Walker27@Example.com"))  # 10027
    # 10027 is in 201 and in 203 (a sub-group of 200, which 10000 supervises); 201 is nobody's of theirs.
    everyone = {g: await members(hooked, g) for g in (200, 201, 203)}  # ADMIN: every page is kept now
    assert damstra_user_id(10027) in everyone[201] and len(everyone[201]) > 1
    async with hooked.as_caller(supervisor) as as_supervisor:
        assert await members(as_supervisor, 203) == everyone[203]
        body = await as_supervisor.query(MEMBERS, {"id": gid("Group:damstra:201")})
        assert body["data"]["group"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    async with hooked.as_caller(trainee) as as_trainee:
        assert await members(as_trainee, 201) == {damstra_user_id(10027)}
