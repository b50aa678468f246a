"""Each person's schedule lists kept across requests (`gateway.data.cache`, README "How fresh is an
answer"): every way an entry is dropped, statuses read off the clock, `Cache-Control: no-cache`, access
rules over cached lists, and the switch that turns every cross-request cache off."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.data.cache import MISSING
from gateway.data.callers import Caller, PersonRef, Role
from gateway.data.context import Context
from gateway.errors import UpstreamError
from gateway.server.webhooks import SECRET_HEADER
from gateway.sources import Source
from sandbox.server import Sandbox
from sandbox.world import DamstraScheduleRow, SeededPerson
from tests.conftest import Gateway
from tests.data.webhooked import SECRET, served
from tests.ids import damstra_user_id, gid

ADMIN = Caller("admin-key", Role.ADMIN, None)
SCHEDULES = (
    """query($id: ID!) { user(id: $id) { schedules(first: 500) { edges { node { id source status } } } } }"""
)
OVERDUE = """query($id: ID!) { user(id: $id) { schedules(first: 500, status: [OVERDUE]) {
    edges { node { id status } } } } }"""
MEMBERS = """query { group(id: "%s") { members(first: 10) { edges { node { id
    schedules(first: 100) { edges { node { id status lesson { id name } } } } } } } } }"""


def people_with(gateway: Gateway, *attributes: str) -> list[SeededPerson]:
    return [p for p in gateway.sandbox.world.people if all(getattr(p, a) for a in attributes)]


def schedule_reads(gateway: Gateway, user: int | None = None) -> int:
    path = f"/user/{user}/lesson_schedule" if user is not None else "/user/"
    return sum(
        1 for e in gateway.log(Source.DAMSTRA).entries if e.path.startswith(path) and "schedule" in e.path
    )


def scope(gateway: Gateway, source: Source) -> str:
    return str(gateway.services.upstreams.cache_scope(source))


def kept(gateway: Gateway, kind: str, source: Source, key: str) -> bool:
    return gateway.services.cache.get(kind, scope(gateway, source), key) is not MISSING


async def schedules(gateway: Gateway, user: int, query: str = SCHEDULES) -> list[tuple[str, str]]:
    data = await gateway.data(query, {"id": damstra_user_id(user)})
    return [(e["node"]["id"], e["node"]["status"]) for e in data["user"]["schedules"]["edges"]]


def add_schedule(gateway: Gateway, user: int, *, ends: datetime, status: str = "due") -> int:
    state = gateway.sandbox.world.damstra
    lesson = next(iter(state.lessons.values()))
    now = datetime.now(UTC)
    new_id = max(state.schedules) + 1
    state.schedules[new_id] = DamstraScheduleRow(
        id=new_id,
        user_id=user,
        lesson_id=lesson.lesson_id,
        lesson_version_id=lesson.lesson_version_id,
        start_date=now - timedelta(days=1),
        end_date=ends,
        status=status,
        progress=0,
        created=now,
        modified=now,
    )
    return new_id


# -- what is kept ---------------------------------------------------------------------------------


async def test_a_warm_dashboard_reads_nothing_upstream(hooked: Gateway) -> None:
    query = MEMBERS % gid("Group:damstra:200")
    first = await hooked.data(query)
    assert "GET /group/200/member?startIndex=0&maxResults=10" in hooked.log(Source.DAMSTRA).paths()
    hooked.clear_logs()
    hits = hooked.services.cache.hits
    assert await hooked.data(query) == first
    assert hooked.log(Source.DAMSTRA).paths() == []  # the member page is kept too (test_member_cache.py)
    assert not hooked.log(Source.LEARNINGLOGIN).entries and not hooked.log(Source.TRAINING_RECORDS).entries
    assert hooked.services.cache.hits > hits


async def test_schedule_lookups_are_counted_as_their_own_cache_kind(hooked: Gateway) -> None:
    from gateway.telemetry.metrics import CACHE_HITS, CACHE_MISSES

    user = people_with(hooked, "damstra_user_id")[0].damstra_user_id
    assert user is not None
    misses, hits = (
        CACHE_MISSES["damstra_schedules"]._value.get(),
        CACHE_HITS["damstra_schedules"]._value.get(),
    )
    await schedules(hooked, user)
    await schedules(hooked, user)
    assert CACHE_MISSES["damstra_schedules"]._value.get() == misses + 1
    assert CACHE_HITS["damstra_schedules"]._value.get() == hits + 1


# -- statuses read off the clock ----------------------------------------------------------------------


async def test_a_cached_due_schedule_is_overdue_once_its_due_date_passes(hooked: Gateway) -> None:
    user = people_with(hooked, "damstra_user_id")[0].damstra_user_id
    assert user is not None
    schedule = add_schedule(hooked, user, ends=datetime.now(UTC) + timedelta(milliseconds=400))
    wanted = gid(f"Schedule:damstra:{schedule}")
    assert (wanted, "DUE") in await schedules(hooked, user)
    assert wanted not in dict(await schedules(hooked, user, OVERDUE))
    reads = schedule_reads(hooked, user)
    await asyncio.sleep(0.5)  # past its due date; the upstream's row still says `due`
    assert (wanted, "OVERDUE") in await schedules(hooked, user)
    assert (wanted, "OVERDUE") in await schedules(hooked, user, OVERDUE)
    assert schedule_reads(hooked, user) == reads  # both from the cached list


# -- each way an entry is dropped ----------------------------------------------------------------


@pytest.mark.parametrize(
    "event", ["lesson.schedule.created", "lesson.schedule.changed", "lesson.schedule.completed",
              "lesson.schedule.cancelled", "user.account.inactivate"]
)  # fmt: skip
async def test_a_damstra_webhook_drops_the_users_list_and_no_other(hooked: Gateway, event: str) -> None:
    one, other = (p.damstra_user_id for p in people_with(hooked, "damstra_user_id")[:2])
    assert one is not None and other is not None
    await schedules(hooked, one)
    await schedules(hooked, other)
    added = add_schedule(hooked, one, ends=datetime.now(UTC) + timedelta(days=3))
    assert gid(f"Schedule:damstra:{added}") not in dict(await schedules(hooked, one))  # kept: stale
    body = {
        "name": event,
        "lessonScheduleId": str(added),
        "userId": str(one),
        "timeStamp": datetime.now(UTC).isoformat(),
    }
    response = await hooked.http.post("/webhooks/damstra", json=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 202, response.text
    assert not kept(hooked, "damstra_schedules", Source.DAMSTRA, str(one))
    assert kept(hooked, "damstra_schedules", Source.DAMSTRA, str(other))
    assert gid(f"Schedule:damstra:{added}") in dict(await schedules(hooked, one))


async def test_scheduling_through_learngraph_shows_at_once_in_a_cached_list(hooked: Gateway) -> None:
    person = people_with(hooked, "damstra_user_id")[0]
    assert person.damstra_user_id is not None
    before = await schedules(hooked, person.damstra_user_id)
    state = hooked.sandbox.world.damstra
    busy = {s.lesson_id for s in state.schedules.values() if s.user_id == person.damstra_user_id}
    lesson = next(i for i, lesson in state.lessons.items() if lesson.status == "active" and i not in busy)
    mutation = """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
        schedules { id } userErrors { code } } }"""
    variables = {
        "input": {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [gid(f"Lesson:damstra:{lesson}")],
        }
    }
    payload = (await hooked.data(mutation, variables))["scheduleLessons"]
    assert payload["userErrors"] == [] and len(payload["schedules"]) == 1
    after = dict(await schedules(hooked, person.damstra_user_id))
    assert payload["schedules"][0]["id"] in after and len(after) == len(before) + 1


WriteCall = Callable[[Context, SeededPerson, str], Awaitable[Any]]


WRITES: dict[str, tuple[str, WriteCall]] = {
    # write: (the list it must drop, the write as a mutation makes it)
    "schedule_lessons": (
        "damstra",
        lambda c, p, _: c.writes.schedule_lessons(
            str(p.damstra_user_id), [1], schedule_date=None, grace_period=None, grace_period_unit=None
        ),
    ),
    "complete_lesson": (
        "damstra",
        lambda c, p, _: c.writes.complete_lesson(
            str(p.damstra_user_id), lesson_id=1, lesson_version_id=None, completed_at=None, completed_by=None
        ),
    ),
    "register": ("damstra", lambda c, p, _: c.writes.register(1, [int(p.damstra_user_id or 0)])),
    "deregister": ("damstra", lambda c, p, _: c.writes.deregister(1, [int(p.damstra_user_id or 0)])),
    "set_user_active": ("damstra", lambda c, p, _: c.writes.set_user_active(str(p.damstra_user_id), False)),
    "cancel_ilt_session": (
        "every damstra",
        lambda c, p, _: c.writes.cancel_ilt_session(1, notify_trainees=False, notify_instructor=False),
    ),
    "complete_ilt_session": ("every damstra", lambda c, p, _: c.writes.complete_ilt_session(1)),
    "unassign_courses": (
        "learninglogin",
        lambda c, p, username: c.writes.unassign_courses(
            int(p.learninglogin_login_id or 0), ["NO-SUCH-COURSE"], username=username
        ),
    ),
    "unassign_train_sessions (no username)": (
        "every learninglogin",
        lambda c, p, _: c.writes.unassign_train_sessions(int(p.learninglogin_login_id or 0), [999_999]),
    ),
    "assign_package": (
        "training_records",
        lambda c, p, _: c.writes.assign_package(str(p.training_records_person_api_id), "NO-SUCH-PACKAGE"),
    ),
    "record_completion": (
        "training_records",
        lambda c, p, _: c.writes.record_completion(
            str(p.training_records_person_api_id), "NO-SUCH-PACKAGE", datetime.now(UTC), None
        ),
    ),
    "delete_record": (
        "training_records",
        lambda c, p, _: c.writes.delete_record(str(p.training_records_person_api_id), "rec-999999"),
    ),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_an_own_write_drops_the_lists_it_may_change_answered_or_not(
    hooked: Gateway, write: str
) -> None:
    drops, call = WRITES[write]
    attributes = ("damstra_user_id", "learninglogin_login_id", "training_records_person_api_id")
    person, other = people_with(hooked, *attributes)[:2]
    logins = hooked.sandbox.world.learninglogin.logins
    username, other_username = (logins[p.learninglogin_login_id or 0].username for p in (person, other))
    context = Context.build(hooked.services, caller=ADMIN)
    loaders = context.loaders
    for p, login in ((person, username), (other, other_username)):
        await loaders.user_schedules.load(str(p.damstra_user_id))
        await loaders.train_sessions_by_username.load(login)
    await loaders.all_training_records()

    def lists() -> dict[str, bool]:
        return {
            "damstra": kept(hooked, "damstra_schedules", Source.DAMSTRA, str(person.damstra_user_id)),
            "other damstra": kept(hooked, "damstra_schedules", Source.DAMSTRA, str(other.damstra_user_id)),
            "learninglogin": kept(hooked, "learninglogin_schedules", Source.LEARNINGLOGIN, username),
            "other learninglogin": kept(
                hooked, "learninglogin_schedules", Source.LEARNINGLOGIN, other_username
            ),
            "training_records": kept(hooked, "training_records", Source.TRAINING_RECORDS, "all"),
        }

    assert all(lists().values())
    with context.writes.running("test"), contextlib.suppress(UpstreamError):
        await call(
            context, person, username
        )  # most of these the upstream refuses: sent, so dropped all the same
    dropped = {name for name, present in lists().items() if not present}
    if drops.startswith("every "):
        source = drops.removeprefix("every ")
        assert dropped == {source, f"other {source}"}
    else:
        assert dropped == {drops}


async def test_a_list_expires_after_its_ttl(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    ttl = {"damstra_schedule_cache_ttl_seconds": "0.2", "learninglogin_schedule_cache_ttl_seconds": "0.2"}
    async with served(sandbox, sandbox_transport, tmp_path, **ttl) as gateway:
        person = people_with(gateway, "damstra_user_id", "learninglogin_login_id")[0]
        assert person.damstra_user_id is not None
        await schedules(gateway, person.damstra_user_id)
        await schedules(gateway, person.damstra_user_id)
        counts = (schedule_reads(gateway), gateway.log(Source.LEARNINGLOGIN).count("GET"))
        assert counts[0] == 1 and counts[1] >= 1
        await asyncio.sleep(0.25)
        await schedules(gateway, person.damstra_user_id)
        assert schedule_reads(gateway) == 2
        assert gateway.log(Source.LEARNINGLOGIN).count("GET") == 2 * counts[1]


def test_the_damstra_ttl_is_long_only_when_webhooks_can_drop_entries() -> None:
    from gateway.settings import load_settings

    assert load_settings({}).damstra_schedule_ttl == 30
    assert load_settings({"LEARNGRAPH_WEBHOOK_SECRET": "s"}).damstra_schedule_ttl == 300
    given = {"LEARNGRAPH_WEBHOOK_SECRET": "s", "LEARNGRAPH_DAMSTRA_SCHEDULE_CACHE_TTL_SECONDS": "5"}
    assert load_settings(given).damstra_schedule_ttl == 5
    assert (
        load_settings({"LEARNGRAPH_TRAINING_RECORDS_SCHEDULE_CACHE_TTL_SECONDS": "7"}).training_records_ttl
        == 7
    )


# -- reading fresh -----------------------------------------------------------------------------------


async def test_cache_control_no_cache_reads_fresh_and_refreshes_the_cache(hooked: Gateway) -> None:
    user = people_with(hooked, "damstra_user_id")[0].damstra_user_id
    assert user is not None
    first = dict(await schedules(hooked, user))
    added = gid(f"Schedule:damstra:{add_schedule(hooked, user, ends=datetime.now(UTC) + timedelta(days=3))}")
    assert dict(await schedules(hooked, user)) == first and schedule_reads(hooked, user) == 1  # kept
    fresh = await hooked.http.post(
        "/graphql",
        json={"query": SCHEDULES, "variables": {"id": damstra_user_id(user)}},
        headers={"Cache-Control": "no-cache"},
    )
    assert added in str(fresh.json()["data"]) and schedule_reads(hooked, user) == 2
    lessons = hooked.log(Source.DAMSTRA).count("GET", "/user/")
    assert added in dict(await schedules(hooked, user))  # what it read is kept for the next ones
    assert schedule_reads(hooked, user) == 2 and hooked.log(Source.DAMSTRA).count("GET", "/user/") == lessons


def test_no_cache_is_a_directive_of_an_http_request_only() -> None:
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from gateway.data.context import asks_fresh

    def headers(value: bytes) -> list[tuple[bytes, bytes]]:
        return [(b"cache-control", value)]

    async def nothing(*args: Any) -> Any:
        return None

    assert asks_fresh(Request({"type": "http", "headers": headers(b"max-age=0, No-Cache")}))
    assert not asks_fresh(Request({"type": "http", "headers": headers(b"no-store")}))
    assert not asks_fresh(Request({"type": "http", "headers": []}))
    assert not asks_fresh(None)
    # Browsers send it on every WebSocket handshake, whatever the page wants.
    assert not asks_fresh(WebSocket({"type": "websocket", "headers": headers(b"no-cache")}, nothing, nothing))


# -- access over cached lists -----------------------------------------------------------------------


async def test_a_cached_list_is_filtered_for_each_caller(hooked: Gateway) -> None:
    supervisor = Caller("supervisor-key", Role.SUPERVISOR, PersonRef.parse("damstra:10000"))
    trainee = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("Bea.Walker27@Example.com"))  # 10027
    seen, unseen = 10027, 10013  # a member of the supervisor's sub-group; someone in none of their groups
    mine = await schedules(hooked, seen)  # ADMIN: every list is kept now
    assert mine and await schedules(hooked, unseen)
    reads = schedule_reads(hooked)
    for caller in (trainee, supervisor):
        async with hooked.as_caller(caller) as as_caller:
            assert await schedules(as_caller, seen) == mine
            body = await as_caller.query(SCHEDULES, {"id": damstra_user_id(unseen)})
            assert body["data"]["user"] is None
            assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert schedule_reads(hooked) == reads  # every answer above came from the cached lists


async def test_a_list_at_hand_is_answered_in_place_only_for_whom_the_caller_may_see(hooked: Gateway) -> None:
    trainee = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("Bea.Walker27@Example.com"))  # 10027
    mine, other = 10027, 10013
    await schedules(hooked, mine)
    await schedules(hooked, other)  # ADMIN: both lists kept
    admin = Context.build(hooked.services, caller=ADMIN).loaders
    assert admin.known_user_schedules(str(other), "all") is not None  # ADMIN sees everyone
    context = Context.build(hooked.services, caller=trainee)
    loaders = context.loaders
    # Until this request has worked out what the trainee may see, nothing is answered in place.
    assert loaders.known_user_schedules(str(mine), "all") is None
    assert context.access is not None
    await context.access.visibility()
    kept_list = loaders.known_user_schedules(str(mine), "all")
    assert kept_list is not None and {s.id for s in kept_list} == {
        s.id for s in await loaders.user_schedules.load(str(mine))
    }
    assert loaders.known_user_schedules(str(other), "all") is None  # someone else's: the loader refuses it
    overdue = loaders.known_user_schedules(str(mine), "overdue")
    assert overdue is not None and all(s.status_at(datetime.now(UTC)) == "overdue" for s in overdue)
    # Not kept at all: a read.
    assert loaders.known_user_schedules(str(mine + 1), "all") is None


async def test_a_warm_member_list_is_answered_in_place_and_each_miss_counted_once(hooked: Gateway) -> None:
    from gateway.telemetry.metrics import CACHE_HITS, CACHE_MISSES

    query = MEMBERS % gid("Group:damstra:200")

    def counted() -> tuple[float, float]:
        return (CACHE_MISSES["damstra_schedules"]._value.get(), CACHE_HITS["damstra_schedules"]._value.get())

    misses, hits = counted()
    first = await hooked.data(query)
    members = first["group"]["members"]["edges"]
    assert len(members) == 10
    assert counted() == (misses + 10, hits)  # looked at in place, then loaded: one miss each
    assert await hooked.data(query) == first
    assert counted() == (misses + 10, hits + 10)
    assert schedule_reads(hooked) == 10


# -- the switch -------------------------------------------------------------------------------------


async def test_with_the_cross_request_cache_off_every_read_goes_upstream(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    query = MEMBERS % gid("Group:damstra:200")
    async with served(sandbox, sandbox_transport, tmp_path, cross_request_cache="false") as gateway:
        first = await gateway.data(query)
        counts = {source: gateway.log(source).count() for source in Source}
        assert counts[Source.DAMSTRA] > 10 and counts[Source.TRAINING_RECORDS] >= 1
        gateway.clear_logs()
        assert await gateway.data(query) == first
        assert {source: gateway.log(source).count() for source in Source} == counts
        catalogue = "query { lessons(first: 5) { edges { node { id name } } } }"
        gateway.clear_logs()
        assert await gateway.data(catalogue) == await gateway.data(catalogue)
        assert gateway.log(Source.DAMSTRA).count("GET", "/lesson") == 2  # a catalogue page each time
        assert gateway.services.cache.hits == 0
        assert not any(gateway.services.cache.keeps(kind) for kind in ("lesson", "group", "user", "access"))
