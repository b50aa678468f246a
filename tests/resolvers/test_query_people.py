"""`node`, `user`, `users`, `group`, `groups`: people and groups, checked against the sandbox world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.sources import Source
from sandbox.server import Sandbox
from sandbox.world import STATUS_ACTIVE, LearningLoginLoginRow, SeededPerson, TrainSessionRow
from tests.conftest import ANCHOR, Gateway
from tests.ids import gid, user_id
from tests.resolvers.graph_support import data_in_parts, gateway_over, iso, walk

USERS = """query($first: Int, $after: String, $search: String, $email: String, $employeeNumber: String,
    $includeInactive: Boolean) {
  users(first: $first, after: $after, search: $search, email: $email, employeeNumber: $employeeNumber,
        includeInactive: $includeInactive) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id fullName email employeeNumber active accounts { source nativeId } } } } }"""


def accounts_of(person: SeededPerson) -> list[tuple[str, str, str]]:
    """(slug, native id, Source name) of each account the person really has, in docs/contract.md §5 order."""
    found = [
        ("damstra", person.damstra_user_id, "DAMSTRA"),
        ("learninglogin", person.learninglogin_login_id, "LEARNINGLOGIN"),
        ("training_records", person.training_records_person_api_id, "TRAINING_RECORDS"),
        ("iscout", person.iscout_user_id, "ISCOUT"),
    ]
    return [(slug, str(native), name) for slug, native, name in found if native is not None]


# -- user / node: identity linking ----------------------------------------------------------------


async def test_every_account_of_every_person_finds_that_person_under_one_id(gateway: Gateway) -> None:
    people = [p for p in gateway.sandbox.world.people if len(accounts_of(p)) > 1]
    lookups = {
        f"p{p.index}_{slug}": (p, user_id(slug, native)) for p in people for slug, native, _ in accounts_of(p)
    }
    fields = [
        f'{alias}: user(id: "{raw}") {{ id fullName accounts {{ source nativeId }} }}'
        for alias, (_, raw) in lookups.items()
    ]
    data = await data_in_parts(gateway, fields)
    # Linked by the identity file whole, by an email in another case, and by employee number only.
    assert {p.index % 3 for p in people} == {0, 1, 2}
    for alias, (person, _) in lookups.items():
        first_slug, first_native, _ = accounts_of(person)[0]
        user = data[alias]
        assert user["id"] == user_id(first_slug, first_native), alias
        assert {(a["source"], a["nativeId"]) for a in user["accounts"]} == {
            (name, native) for _, native, name in accounts_of(person)
        }, alias
        if person.damstra_user_id is not None:
            assert user["fullName"] == person.full_name


async def test_node_answers_a_user_by_any_account(gateway: Gateway) -> None:
    person = next(
        p for p in gateway.sandbox.world.people if p.training_records_person_api_id and p.index % 3 == 2
    )
    query = (
        "query($id: ID!) { node(id: $id) { __typename id ... on User { fullName email employeeNumber } } }"
    )
    data = await gateway.data(
        query, {"id": user_id("training_records", person.training_records_person_api_id)}
    )
    assert data["node"] == {
        "__typename": "User",
        "id": user_id("damstra", person.damstra_user_id),
        "fullName": person.full_name,
        "email": person.email,
        "employeeNumber": person.employee_number,
    }


async def test_a_damstra_user_carries_the_upstream_profile(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    person = world.people[0]
    damstra = world.damstra.users[person.damstra_user_id or 0]
    query = """query($id: ID!) { user(id: $id) { firstName lastName username email employeeNumber active roles
        timeZone groups { id } supervisedGroups { id } } }"""
    data = await gateway.data(query, {"id": user_id("damstra", damstra.id)})
    assert data["user"] == {
        "firstName": damstra.first_name,
        "lastName": damstra.last_name,
        "username": damstra.user_name,
        "email": damstra.email_address,
        "employeeNumber": damstra.employee_number,
        "active": True,
        "roles": ["ADMIN", "SUPERVISOR"],
        "timeZone": damstra.time_zone,
        "groups": [
            {"id": gid(f"Group:damstra:{g.id}")}
            for g in sorted(world.damstra.groups.values(), key=lambda g: g.id)
            if damstra.id in g.member_ids
        ],
        "supervisedGroups": [
            {"id": gid(f"Group:damstra:{g.id}")}
            for g in sorted(world.damstra.groups.values(), key=lambda g: g.id)
            if damstra.id in g.supervisor_ids
        ],
    }


async def test_accounts_nobody_has_are_not_found(gateway: Gateway) -> None:
    for raw in (
        user_id("damstra", 99_999),
        user_id("learninglogin", 99_999),
        user_id("training_records", "person-99999"),
        user_id("iscout", "ffffffffffffffffffffffff"),
    ):
        body = await gateway.query("query($id: ID!) { user(id: $id) { id } }", {"id": raw})
        assert body["data"] == {"user": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"], raw


async def test_accounts_outside_the_identity_file_are_found_where_their_upstream_has_them(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox.build(people=50, seed=7, anchor=ANCHOR)
    person = next(
        p for p in sandbox.world.people if p.iscout_user_id and p.training_records_person_api_id and p.index
    )
    identity = [
        entry
        for entry in sandbox.world.identity_entries
        if entry.get("iscout_user_id") != person.iscout_user_id
        and entry.get("training_records_person_api_id") != person.training_records_person_api_id
    ]
    async with gateway_over(sandbox, tmp_path, identity) as gateway:
        query = "query($id: ID!) { user(id: $id) { id accounts { source nativeId } } }"
        for slug, native, name in accounts_of(person)[2:]:
            if name not in ("ISCOUT", "TRAINING_RECORDS"):
                continue
            data = await gateway.data(query, {"id": user_id(slug, native)})
            # Not linked to anyone: a person of their own, with the one account their upstream proved.
            assert data["user"] == {
                "id": user_id(slug, native),
                "accounts": [{"source": name, "nativeId": native}],
            }


async def test_a_person_known_only_by_a_learninglogin_username(tmp_path: Path) -> None:
    sandbox = Sandbox.build(people=50, seed=7, anchor=ANCHOR)
    world = sandbox.world
    world.learninglogin.logins[9_001] = LearningLoginLoginRow(
        9_001, "ll.casey.contractor", "Casey Contractor"
    )
    world.learninglogin.train_sessions[9_001] = TrainSessionRow(
        9_001, 9_001, "WHMIS", "WHMIS 2015", "Assigned", 0, 0, 0, None, None, ANCHOR.date(), None, None
    )
    identity: list[dict[str, Any]] = [
        *world.identity_entries,
        {"learninglogin_username": "ll.casey.contractor"},
    ]
    async with gateway_over(sandbox, tmp_path, identity) as gateway:
        listed, _ = await walk(gateway, USERS, {"first": 100, "search": "casey"}, "users")
        assert [(u["fullName"], u["accounts"]) for u in listed] == [
            ("Casey Contractor", [{"source": "LEARNINGLOGIN", "nativeId": "username:ll.casey.contractor"}])
        ]
        # The ID the gateway handed out must find the person again.
        query = "query($id: ID!) { user(id: $id) { id fullName schedules { edges { node { id } } } } }"
        data = await gateway.data(query, {"id": listed[0]["id"]})
        assert data["user"] == {
            "id": listed[0]["id"],
            "fullName": "Casey Contractor",
            "schedules": {"edges": [{"node": {"id": gid("Schedule:learninglogin:9001")}}]},
        }


# -- users ----------------------------------------------------------------------------------------


def _identity_only(gateway: Gateway) -> list[SeededPerson]:
    return [p for p in gateway.sandbox.world.people if p.damstra_user_id is None and accounts_of(p)]


async def test_users_pages_through_damstra_then_people_only_the_identity_file_knows(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    active = sorted(u.id for u in world.damstra.users.values() if u.client_status_id == STATUS_ACTIVE)
    others = _identity_only(gateway)
    assert others, "the seeded world has people without a DAMSTRA account"
    nodes, pages = await walk(gateway, USERS, {"first": 7}, "users")
    expected = [user_id("damstra", i) for i in active] + [
        user_id(accounts_of(p)[0][0], accounts_of(p)[0][1]) for p in others
    ]
    assert [n["id"] for n in nodes] == expected
    assert pages == -(-len(expected) // 7)
    assert len(active) % 7, "one page holds the last DAMSTRA users and the first identity-file ones"
    assert all(n["active"] is True for n in nodes[: len(active)])
    assert all(n["active"] is None for n in nodes[len(active) :])
    data = await gateway.data(USERS, {"first": 1})
    assert data["users"]["totalCount"] == len(expected)


async def test_users_first_page_reads_one_damstra_page_and_nothing_else(gateway: Gateway) -> None:
    gateway.clear_logs()
    query = "{ users(first: 5) { pageInfo { hasNextPage } edges { node { id fullName email } } } }"
    data = await gateway.data(query)
    assert len(data["users"]["edges"]) == 5 and data["users"]["pageInfo"]["hasNextPage"]
    assert gateway.log(Source.DAMSTRA).paths() == ["GET /user?startIndex=0&maxResults=5&activeValue=active"]
    assert all(not gateway.log(s).entries for s in Source if s is not Source.DAMSTRA)


async def test_the_page_that_reaches_identity_file_people_checks_each_in_damstra_once(
    gateway: Gateway,
) -> None:
    world = gateway.sandbox.world
    active = sum(u.client_status_id == STATUS_ACTIVE for u in world.damstra.users.values())
    # Identity-file people not headed by a DAMSTRA id: whether they have a DAMSTRA account is one
    # DAMSTRA search each (by the email or employee number that links them), sent all at once.
    headed_by_damstra = {e["damstra_user_id"] for e in world.identity_entries if "damstra_user_id" in e}
    to_check = [
        p
        for p in world.people
        if len(accounts_of(p)) > (p.damstra_user_id is not None)
        and p.damstra_user_id not in headed_by_damstra
    ]
    query = "query($after: String) { users(first: 10, after: $after) { pageInfo { endCursor } edges { node { id } } } }"
    before = await gateway.data(
        "query($first: Int) { users(first: $first) { pageInfo { endCursor } } }", {"first": active - 3}
    )
    gateway.clear_logs()
    data = await gateway.data(query, {"after": before["users"]["pageInfo"]["endCursor"]})
    assert len(data["users"]["edges"]) == 3 + len(_identity_only(gateway))
    damstra = gateway.log(Source.DAMSTRA)
    assert damstra.count("GET", "/user") == len(damstra.entries) == 1 + len(to_check)
    assert all(not gateway.log(s).entries for s in Source if s is not Source.DAMSTRA)


async def test_users_include_inactive(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    inactive = {u.id for u in world.damstra.users.values() if u.client_status_id != STATUS_ACTIVE}
    assert inactive
    nodes, _ = await walk(gateway, USERS, {"first": 100, "includeInactive": True}, "users")
    damstra = [n for n in nodes if any(a["source"] == "DAMSTRA" for a in n["accounts"])]
    assert sorted(
        int(a["nativeId"]) for n in nodes for a in n["accounts"] if a["source"] == "DAMSTRA"
    ) == sorted(world.damstra.users)
    assert {n["id"] for n in nodes if n["active"] is False} == {user_id("damstra", i) for i in inactive}
    assert len(damstra) == len(world.damstra.users)


async def test_include_inactive_is_nullable_and_null_means_false(gateway: Gateway) -> None:
    # docs/contract.md §6: `includeInactive: Boolean = false`; a client may send null, as a variable or inline.
    default = await gateway.data("{ users(first: 100) { totalCount edges { node { id active } } } }")
    for query, variables in [
        ("{ users(first: 100, includeInactive: null) { totalCount edges { node { id active } } } }", {}),
        (
            "query($b: Boolean) { users(first: 100, includeInactive: $b) { totalCount edges { node { id active } } } }",
            {"b": None},
        ),
    ]:
        assert await gateway.data(query, variables) == default
    assert all(edge["node"]["active"] is not False for edge in default["users"]["edges"])


async def test_users_search_email_and_employee_number(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    needle = "smith"
    matching = sorted(
        u.id
        for u in world.damstra.users.values()
        if u.client_status_id == STATUS_ACTIVE
        and any(needle in text.lower() for text in (u.user_name, u.first_name, u.last_name))
    )
    assert len(matching) > 1
    nodes, _ = await walk(gateway, USERS, {"first": 2, "search": "SMITH"}, "users")
    assert [n["id"] for n in nodes] == [user_id("damstra", i) for i in matching]

    person = world.people[7]
    data = await gateway.data(USERS, {"email": person.email.upper()})
    assert [n["id"] for n in data["users"]["edges"][0:1] for n in [n["node"]]] == [
        user_id("damstra", person.damstra_user_id)
    ]
    assert data["users"]["totalCount"] == 1
    data = await gateway.data(USERS, {"employeeNumber": person.employee_number})
    assert [e["node"]["fullName"] for e in data["users"]["edges"]] == [person.full_name]
    data = await gateway.data(USERS, {"employeeNumber": "E999999"})
    assert data["users"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }


async def test_users_finds_identity_only_people_by_email_and_search(gateway: Gateway) -> None:
    person = _identity_only(gateway)[0]
    slug, native, _ = accounts_of(person)[0]
    for variables in ({"email": person.email.title()}, {"search": person.email.split("@")[0]}):
        data = await gateway.data(USERS, variables)
        assert [e["node"]["id"] for e in data["users"]["edges"]] == [user_id(slug, native)], variables


# -- group / groups -------------------------------------------------------------------------------

GROUPS = """query($first: Int, $after: String, $search: String) {
  groups(first: $first, after: $after, search: $search) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id name description memberCount } } } }"""


async def test_groups_page_through_every_active_group(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    world.damstra.groups[max(world.damstra.groups)].active = False  # inactivated groups are gone
    expected = [g for _, g in sorted(world.damstra.groups.items()) if g.active]
    nodes, pages = await walk(gateway, GROUPS, {"first": 3}, "groups")
    assert nodes == [
        {
            "id": gid(f"Group:damstra:{g.id}"),
            "name": g.name,
            "description": g.description,
            "memberCount": len(g.member_ids),
        }
        for g in expected
    ]
    assert pages == -(-len(expected) // 3)
    data = await gateway.data(GROUPS, {"first": 0})
    assert data["groups"]["totalCount"] == len(expected)
    data = await gateway.data(GROUPS, {"search": "DEPOT"})
    assert [e["node"]["name"] for e in data["groups"]["edges"]] == [
        g.name for g in expected if "Depot" in g.name
    ]


async def test_group_with_parent_members_and_supervisors(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    child = next(g for _, g in sorted(world.damstra.groups.items()) if g.parent_id is not None)
    parent = world.damstra.groups[child.parent_id or 0]
    query = """query($id: ID!, $first: Int, $after: String) { group(id: $id) { id name createdAt
        parent { id name parent { id } }
        supervisors { totalCount edges { node { id fullName } } }
        members(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
          edges { node { id fullName } } } } }"""
    data = await gateway.data(query, {"id": gid(f"Group:damstra:{parent.id}"), "first": 50})
    group = data["group"]
    assert group["createdAt"] == iso(parent.created.replace(microsecond=0))
    assert group["parent"] is None
    assert group["supervisors"]["totalCount"] == len(parent.supervisor_ids)
    assert [e["node"]["id"] for e in group["supervisors"]["edges"]] == [
        user_id("damstra", i) for i in sorted(parent.supervisor_ids)
    ]
    data = await gateway.data(query, {"id": gid(f"Group:damstra:{child.id}"), "first": 1})
    assert data["group"]["parent"] == {
        "id": gid(f"Group:damstra:{parent.id}"),
        "name": parent.name,
        "parent": None,
    }

    members, pages = await walk(
        gateway, query, {"id": gid(f"Group:damstra:{parent.id}"), "first": 6}, "group.members"
    )
    names = {u.id: f"{u.first_name} {u.last_name}" for u in world.damstra.users.values()}
    assert [(m["id"], m["fullName"]) for m in members] == [
        (user_id("damstra", i), names[i]) for i in sorted(parent.member_ids)
    ]
    assert pages == -(-len(parent.member_ids) // 6) and len(parent.member_ids) > 12


async def test_member_pages_cost_one_listing_each_and_no_user_reads(gateway: Gateway) -> None:
    query = """query($id: ID!) { group(id: $id) { members(first: 5) { edges { node {
        id fullName email accounts { source } } } } } }"""
    gateway.clear_logs()
    await gateway.data(query, {"id": gid("Group:damstra:201")})
    log = gateway.log(Source.DAMSTRA)
    assert log.paths() == ["GET /group/201", "GET /group/201/member?startIndex=0&maxResults=5"]
    assert all(not gateway.log(s).entries for s in Source if s is not Source.DAMSTRA)


async def test_node_and_group_lookups_that_find_nothing(gateway: Gateway) -> None:
    data = await gateway.data(
        "query($id: ID!) { node(id: $id) { __typename ... on Group { name } } }",
        {"id": gid("Group:damstra:201")},
    )
    assert data["node"] == {"__typename": "Group", "name": gateway.sandbox.world.damstra.groups[201].name}
    for raw in (gid("Group:damstra:999999"), gid("Group:iscout:201"), gid("Thing:damstra:1")):
        body = await gateway.query("query($id: ID!) { node(id: $id) { id } }", {"id": raw})
        assert body["data"] == {"node": None}
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"], raw
