"""`gateway.data.access` and the writes door against the seeded sandbox: who each caller sees, what
working that out costs, and how the door refuses and audits.

The seeded world (50 people, seed 7): DAMSTRA user 10000 supervises groups 200 and 206, and 200
has two sub-groups, 203 and 206. 10027 belongs to 201 and to the sub-group 203 (so a supervisor of
200 sees them through the sub-group only); 10013 belongs to 205 alone (nobody 10000 supervises).
"""

from __future__ import annotations

import base64
import json
import logging

import pytest

from gateway.data.access import NOBODY
from gateway.data.callers import Caller, PersonRef, Role
from gateway.data.context import Context
from gateway.errors import Forbidden
from gateway.sources import Source
from sandbox.server import CREDENTIALS
from tests.conftest import Gateway

SUPERVISOR = Caller("supervisor-key", Role.SUPERVISOR, PersonRef.parse("damstra:10000"))
TRAINEE = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("Bea.Walker27@Example.com"))
ADMIN = Caller("admin-key", Role.ADMIN, None)


def members(gateway: Gateway, *group_ids: int) -> set[int]:
    groups = gateway.sandbox.world.damstra.groups
    return {uid for gid in group_ids for uid in groups[gid].member_ids}


async def test_a_supervisor_sees_the_members_of_their_groups_and_sub_groups(gateway: Gateway) -> None:
    seen = await Context.build(gateway.services, caller=SUPERVISOR).access.visibility()  # type: ignore[union-attr]

    expected = members(gateway, 200, 203, 206) | {10000}
    assert {u.id for u in seen.users} == expected
    assert seen.groups == {200, 203, 206}
    assert seen.sees(Source.DAMSTRA, "10027")  # through the sub-group 203 alone
    assert not seen.sees(Source.DAMSTRA, "10013")
    # Their linked accounts too: 10027's LearningLogin login and iScout user, by the identity file.
    assert seen.sees(Source.LEARNINGLOGIN, "527") and "ll.beawalker27" in seen.usernames
    assert seen.sees(Source.ISCOUT, "895fd7b326b94c7f9118bb16")
    assert not seen.sees(Source.LEARNINGLOGIN, "513") and not seen.sees(
        Source.TRAINING_RECORDS, "person-00013"
    )
    assert seen.own >= {(Source.DAMSTRA, "10000"), (Source.LEARNINGLOGIN, "500")}


async def test_sub_groups_are_followed_all_the_way_down_and_a_cycle_ends(gateway: Gateway) -> None:
    groups = gateway.sandbox.world.damstra.groups
    groups[204].parent_id = 203  # 200 > 203 > 204
    groups[200].parent_id = 206  # and a cycle DAMSTRA should not hold: 200 > 206 > 200

    seen = await Context.build(gateway.services, caller=SUPERVISOR).access.visibility()  # type: ignore[union-attr]

    assert seen.groups == {200, 203, 204, 206}
    assert seen.sees(Source.DAMSTRA, "10020")  # a member of 204 only


async def test_a_trainee_sees_themself_and_the_groups_they_belong_to(gateway: Gateway) -> None:
    seen = await Context.build(gateway.services, caller=TRAINEE).access.visibility()  # type: ignore[union-attr]

    assert [u.id for u in seen.users] == [10027]
    assert seen.accounts == seen.own
    assert seen.own == {
        (Source.DAMSTRA, "10027"),
        (Source.LEARNINGLOGIN, "527"),
        (Source.ISCOUT, "895fd7b326b94c7f9118bb16"),
    }
    assert seen.groups == {201, 203}


async def test_a_supervisor_role_with_no_supervised_group_sees_themself(gateway: Gateway) -> None:
    caller = Caller("x", Role.SUPERVISOR, PersonRef.parse("damstra:10027"))
    seen = await Context.build(gateway.services, caller=caller).access.visibility()  # type: ignore[union-attr]
    assert [u.id for u in seen.users] == [10027]


@pytest.mark.parametrize(
    "ref",
    [
        "bea.walker27@example.com",
        "BEA.WALKER27@EXAMPLE.COM",
        "damstra:10027",
        base64.b64encode(b"User:damstra:10027").decode(),
        "learninglogin:527",  # another of their accounts finds the same person
        base64.b64encode(b"User:iscout:895fd7b326b94c7f9118bb16").decode(),
    ],
)
async def test_a_person_ref_is_resolved_as_ids_and_emails_are(gateway: Gateway, ref: str) -> None:
    caller = Caller("x", Role.TRAINEE, PersonRef.parse(ref))
    seen = await Context.build(gateway.services, caller=caller).access.visibility()  # type: ignore[union-attr]
    assert (Source.DAMSTRA, "10027") in seen.own


@pytest.mark.parametrize(
    "ref",
    [
        "nobody@example.com",
        "damstra:99999",
        "damstra:abc",
    ],
)
async def test_a_person_who_matches_nobody_sees_the_catalogue_only(gateway: Gateway, ref: str) -> None:
    caller = Caller("x", Role.SUPERVISOR, PersonRef.parse(ref))
    assert await Context.build(gateway.services, caller=caller).access.visibility() is NOBODY  # type: ignore[union-attr]


async def test_the_visible_set_costs_a_few_reads_once_then_nothing_until_a_group_or_user_changes(
    gateway: Gateway,
) -> None:
    log = gateway.log(Source.DAMSTRA)
    gateway.clear_logs()
    await Context.build(gateway.services, caller=SUPERVISOR).access.visibility()  # type: ignore[union-attr]
    # The supervisor, every group (DAMSTRA lists no group's children), each of the three groups' members.
    assert sorted(log.paths()) == sorted(
        [
            "GET /user/10000",
            "GET /group?startIndex=0&maxResults=100",
            *(f"GET /group/{g}/member?startIndex=0&maxResults=100" for g in (200, 203, 206)),
        ]
    )

    gateway.clear_logs()
    context = Context.build(gateway.services, caller=SUPERVISOR)  # the next request
    await context.access.visibility()  # type: ignore[union-attr]
    assert log.paths() == []
    # Its groups were cached as they were listed: reading them costs nothing either.
    listing = await context.listings.damstra_groups(q=None, start=0, size=20)
    assert [g.id for g in listing.items] == [200, 203, 206] and listing.total == 3
    assert log.paths() == []

    scope = gateway.services.upstreams.cache_scope(Source.DAMSTRA)
    gateway.services.cache.invalidate("group", scope, "203")  # as a group write or webhook does
    await Context.build(gateway.services, caller=SUPERVISOR).access.visibility()  # type: ignore[union-attr]
    assert any(path.startswith("GET /group/200/member") for path in log.paths())


async def test_a_trainee_costs_one_read_and_an_admin_none(gateway: Gateway) -> None:
    gateway.clear_logs()
    await Context.build(gateway.services, caller=TRAINEE).access.visibility()  # type: ignore[union-attr]
    (search,) = gateway.log(Source.DAMSTRA).paths()  # one search of DAMSTRA's users by the email
    assert search.startswith("GET /user?") and "emailAddress=bea.walker27%40example.com" in search

    admin = Context.build(gateway.services, caller=ADMIN)
    assert admin.access is None and admin.loaders.access is None and admin.people.access is None


async def test_the_writes_door_refuses_before_sending_and_audits_every_write(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="learngraph.audit")
    gateway.clear_logs()
    writes = Context.build(gateway.services, caller=SUPERVISOR).writes

    with pytest.raises(Forbidden):
        writes.admit("createGroup")
    with writes.running("scheduleLessons"), pytest.raises(Forbidden):
        await writes.schedule_lessons(
            "10013", [10001], schedule_date=None, grace_period=None, grace_period_unit=None
        )
    with writes.running("scheduleLessons"), pytest.raises(Forbidden):
        await writes.create_group("Sneaky", description=None, parent_id=None)  # ADMIN's whatever the mutation
    with writes.running("generateLoginUrl"), pytest.raises(Forbidden):
        await writes.login_url("10027", "day")  # a supervisor's member, but a login link is for oneself
    assert gateway.writes(Source.DAMSTRA) == []

    with writes.running("scheduleLessons"):
        await writes.check_target(Source.LEARNINGLOGIN, "527")  # 10027's login: theirs to schedule
        created = await writes.schedule_lessons(
            "10027", [10001], schedule_date=None, grace_period=None, grace_period_unit=None
        )
    assert created and gateway.writes(Source.DAMSTRA) == ["POST /user/10027/lesson_schedule"]

    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "learngraph.audit"]
    assert [(e["mutation"], e["write"], e["outcome"]) for e in events] == [
        ("createGroup", "admit", {"*": "FORBIDDEN"}),
        (
            "scheduleLessons",
            "schedule_lessons",
            {"damstra:10013": "FORBIDDEN", "lessonVersion:10001": "FORBIDDEN"},
        ),
        ("scheduleLessons", "create_group", {"group:new": "FORBIDDEN"}),
        ("generateLoginUrl", "login_url", {"damstra:10027": "FORBIDDEN"}),
        ("scheduleLessons", "schedule_lessons", {"damstra:10027": "OK", "lessonVersion:10001": "OK"}),
    ]
    assert {e["caller"] for e in events} == {"supervisor-key"} and {e["role"] for e in events} == {
        "SUPERVISOR"
    }
    logged = caplog.text
    assert not any(secret in logged for secret in CREDENTIALS.values())


async def test_an_admin_writes_through_the_door_unchecked_but_audited(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="learngraph.audit")
    writes = Context.build(gateway.services, caller=ADMIN).writes
    writes.admit("createGroup")
    with writes.running("createGroup"):
        await writes.create_group("Night shift", description=None, parent_id=None)
    (event,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "learngraph.audit"]
    assert event == {
        "caller": "admin-key",
        "role": "ADMIN",
        "mutation": "createGroup",
        "write": "create_group",
        "targets": ["group:new"],
        "outcome": {"group:new": "OK"},
    }
