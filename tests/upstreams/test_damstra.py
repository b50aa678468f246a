"""The DAMSTRA connector against the DAMSTRA sandbox: every endpoint, the state writes leave behind,
paging, errors, the path guard, retries and timeouts; and the error decoder on DAMSTRA's documented bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from gateway.errors import (
    InvalidNativeId,
    UpstreamForbidden,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.sources import Source
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.damstra.errors import decode_damstra_error
from gateway.upstreams.damstra.records import ALREADY_SCHEDULED, DamstraILTSessionInput, DamstraUserInput
from sandbox.controls import RequestLog
from sandbox.server import CREDENTIALS, Sandbox
from sandbox.world import STATUS_ACTIVE, STATUS_NOT_CURRENT, DamstraState

OPEN = ("scheduled", "due", "overdue")


@pytest.fixture
async def client(connect: Callable[..., DamstraClient]) -> AsyncIterator[DamstraClient]:
    damstra = connect(DamstraClient, Source.DAMSTRA)
    yield damstra
    await damstra.aclose()


@pytest.fixture
def state(sandbox: Sandbox) -> DamstraState:
    return sandbox.world.damstra


@pytest.fixture
def log(sandbox: Sandbox) -> RequestLog:
    return sandbox.controls[Source.DAMSTRA].log


def active_ids(state: DamstraState) -> list[int]:
    return sorted(uid for uid, u in state.users.items() if u.client_status_id == STATUS_ACTIVE)


def unscheduled_version(state: DamstraState, user_id: int) -> int:
    """A schedulable lesson version the user has no open schedule for."""
    busy = {s.lesson_id for s in state.schedules.values() if s.user_id == user_id and s.status in OPEN}
    return next(
        x.lesson_version_id
        for _, x in sorted(state.lessons.items())
        if x.status == "active" and x.lesson_id not in busy
    )


# -- users ----------------------------------------------------------------------------------------


async def test_users_window_reads_the_seeds_user(client: DamstraClient, state: DamstraState) -> None:
    page = await client.users().window(max_results=5)
    assert [u.id for u in page.items] == active_ids(state)[:5]
    assert page.total == len(active_ids(state))
    admin = page.items[0]
    world = state.users[admin.id]
    assert (admin.user_name, admin.email_address, admin.employee_number) == (
        world.user_name,
        world.email_address,
        world.employee_number,
    )
    assert admin.roles == world.roles and admin.time_zone == world.time_zone
    assert admin.group_ids == sorted(g.id for g in state.groups.values() if admin.id in g.member_ids)
    assert admin.supervised_group_ids == sorted(
        g.id for g in state.groups.values() if admin.id in g.supervisor_ids
    )
    # `2015-10-29T15:28:59+0000` comes back as an aware UTC datetime.
    assert admin.created_date == world.created and admin.created_date.tzinfo == UTC
    assert admin.last_logged_in_date == world.last_logged_in
    assert admin.is_active


async def test_users_filters(client: DamstraClient, state: DamstraState) -> None:
    someone = state.users[active_ids(state)[3]]
    by_email = await client.users(email=someone.email_address.upper()).window()
    assert [u.id for u in by_email.items] == [someone.id]
    by_emp = await client.users(emp_id=someone.employee_number).window()
    assert [u.id for u in by_emp.items] == [someone.id]
    by_name = await client.users(q=someone.user_name).window()
    assert someone.id in {u.id for u in by_name.items}

    gone = sorted(uid for uid, u in state.users.items() if u.client_status_id == STATUS_NOT_CURRENT)
    assert gone, "the seeded world has inactive users"
    inactive = await client.users(active_value="inactive").window()
    assert [u.id for u in inactive.items] == gone
    assert not any(u.is_active for u in inactive.items)
    everyone = await client.users(active_value="all").window(max_results=1000)
    assert everyone.total == len(state.users)


async def test_user_listings_page_across_boundaries(
    client: DamstraClient, state: DamstraState, log: RequestLog
) -> None:
    window = await client.users().window(start_index=3, max_results=4)
    assert [u.id for u in window.items] == active_ids(state)[3:7]
    log.clear()
    seen = [u.id for u in await client.users().all(page_size=7)]
    assert seen == active_ids(state)
    assert log.count("GET", "/user") == -(-len(seen) // 7)


async def test_get_user_and_not_found(client: DamstraClient, state: DamstraState) -> None:
    uid = active_ids(state)[0]
    user = await client.get_user(uid)
    assert user.id == uid and user.first_name == state.users[uid].first_name
    assert (await client.get_user(str(uid))).id == uid
    with pytest.raises(UpstreamNotFound) as caught:
        await client.get_user(1)
    assert caught.value.status_code == 404 and caught.value.source == "damstra"


async def test_create_and_update_user_change_the_world(client: DamstraClient, state: DamstraState) -> None:
    created = await client.create_user(
        DamstraUserInput(
            user_name="new.person",
            first_name="New",
            last_name="Person",
            email_address="new.person@example.com",
            employee_number="E9999",
            password=SecretStr("pw-123456"),
            roles=[6, 8],
            group_ids=[201],
            supervised_group_ids=[202],
            send_welcome_email=False,
        )
    )
    assert created.created_date is not None and created.created_date.tzinfo == UTC
    world = state.users[created.id]
    assert (world.user_name, world.employee_number, world.roles) == ("new.person", "E9999", [6, 8])
    assert created.id in state.groups[201].member_ids
    assert created.id in state.groups[202].supervisor_ids

    updated = await client.update_user(created.id, DamstraUserInput(last_name="Changed", time_zone="UTC"))
    assert updated.id == created.id and updated.last_name == "Changed"
    assert (world.last_name, world.time_zone, world.first_name) == ("Changed", "UTC", "New")
    assert updated.group_ids == [201] and updated.supervised_group_ids == [202]


async def test_bulk_import_creates_and_merges(client: DamstraClient, state: DamstraState) -> None:
    existing = state.users[active_ids(state)[1]]
    users = await client.bulk_import_users(
        [
            DamstraUserInput(email_address=existing.email_address, mobile_number="0400000000"),
            DamstraUserInput(user_name="bulk.one", first_name="Bulk", last_name="One", roles=[6]),
        ],
        merge_type="email",
    )
    assert users[0].id == existing.id and existing.mobile_number == "0400000000"
    assert users[1].user_name == "bulk.one" and state.users[users[1].id].first_name == "Bulk"


async def test_activate_inactivate_and_login_url(client: DamstraClient, state: DamstraState) -> None:
    uid = active_ids(state)[2]
    await client.inactivate_user(uid)
    assert state.users[uid].client_status_id == STATUS_NOT_CURRENT
    assert not (await client.get_user(uid)).is_active
    await client.activate_user(uid)
    assert state.users[uid].client_status_id == STATUS_ACTIVE

    url = await client.generate_login_url(uid, expires_in="week")
    assert url.startswith("https://") and "week" in url
    assert await client.generate_login_url(uid, expires_in="disabled") == ""


# -- groups ---------------------------------------------------------------------------------------


async def test_groups_list_get_and_the_offsetless_date(client: DamstraClient, state: DamstraState) -> None:
    page = await client.groups().window(max_results=2)
    assert [g.id for g in page.items] == sorted(state.groups)[:2] and page.total == len(state.groups)
    group = await client.get_group(200)
    world = state.groups[200]
    assert (group.name, group.description, group.member_count) == (
        world.name,
        world.description,
        len(world.member_ids),
    )
    # `2015-10-29 15:28:59` has no offset: read as UTC.
    assert group.created_date == world.created and group.created_date.tzinfo == UTC
    child = next(g for g in state.groups.values() if g.parent_id is not None)
    assert (await client.get_group(child.id)).parent_id == child.parent_id
    found = await client.groups(q=world.name).window()
    assert 200 in {g.id for g in found.items}
    assert [g.id for g in await client.groups().all(page_size=2)] == sorted(state.groups)


async def test_group_writes_change_the_world(client: DamstraClient, state: DamstraState) -> None:
    made = await client.create_group("Night Shift", description="After dark", parent_id=200)
    assert state.groups[made.id].name == "Night Shift" and state.groups[made.id].parent_id == 200
    assert made.created_date is not None and made.parent_id == 200

    changed = await client.update_group(made.id, "Night Crew", description="Still dark")
    assert changed.name == "Night Crew" and state.groups[made.id].description == "Still dark"

    a, b, c = active_ids(state)[:3]
    await client.add_group_members(made.id, [a, b, c])
    assert state.groups[made.id].member_ids == [a, b, c]
    await client.remove_group_members(made.id, [b])
    assert state.groups[made.id].member_ids == [a, c]
    await client.add_group_supervisors(made.id, [a, b])
    assert state.groups[made.id].supervisor_ids == [a, b]
    await client.remove_group_supervisors(made.id, [a])
    assert state.groups[made.id].supervisor_ids == [b]
    assert [u.id for u in (await client.group_supervisors(made.id).window()).items] == [b]

    await client.inactivate_group(made.id)
    assert state.groups[made.id].active is False
    with pytest.raises(UpstreamNotFound) as caught:
        await client.get_group(made.id)
    assert caught.value.upstream_code == 842


async def test_group_members_page_and_missing_groups(client: DamstraClient, state: DamstraState) -> None:
    members = sorted(state.groups[200].member_ids)
    assert len(members) > 8
    window = await client.group_members(200).window(start_index=5, max_results=3)
    assert [u.id for u in window.items] == members[5:8] and window.total == len(members)
    with pytest.raises(UpstreamNotFound) as caught:
        await client.add_group_members(999, [members[0]])
    assert caught.value.upstream_code == 842 and "999" in caught.value.message


# -- lessons --------------------------------------------------------------------------------------


async def test_lessons_list_and_filters(client: DamstraClient, state: DamstraState) -> None:
    page = await client.lessons().window(max_results=5)
    assert [x.lesson_id for x in page.items] == sorted(state.lessons)[:5]
    first = page.items[0]
    world = state.lessons[first.lesson_id]
    assert (first.lesson_version_id, first.duration, first.status, first.version) == (
        world.lesson_version_id,
        world.duration_ms,
        world.status,
        world.version,
    )
    assert first.created_date == world.created

    states = await client.lessons(published_states=["inactive", "never"]).window(max_results=100)
    assert {x.status for x in states.items} == {"inactive", "never"}
    assert states.total == sum(1 for x in state.lessons.values() if x.status in ("inactive", "never"))

    by_ids = await client.lessons(lesson_ids=[1001, 1003], q=state.lessons[1003].name).window()
    assert [x.lesson_id for x in by_ids.items] == [1003]


async def test_lessons_by_id_batch_in_one_request_and_chunk_past_500(
    client: DamstraClient, state: DamstraState, log: RequestLog
) -> None:
    log.clear()
    found = await client.get_lessons_by_id([1002, 1000, 1005, 1002])
    assert sorted(x.lesson_id for x in found) == [1000, 1002, 1005]
    assert log.count("GET", "/lesson") == 1

    log.clear()  # a dashboard's worth (Q1 of the bench asks for 132) in one call
    found = await client.get_lessons_by_id(list(range(1000, 1150)))
    assert sorted(x.lesson_id for x in found) == sorted(state.lessons)
    assert log.count("GET", "/lesson") == 1

    log.clear()
    wanted = list(range(1000, 1530))  # 530 ids: only the seeded lessons exist
    found = await client.get_lessons_by_id(wanted)
    assert sorted(x.lesson_id for x in found) == sorted(state.lessons)
    assert log.count("GET", "/lesson") == 2
    asked = [parse_qs(e.query)["lessonIds"][0].split(",") for e in log.entries]
    assert sorted(len(ids) for ids in asked) == [30, 500]
    assert await client.get_lessons_by_id([]) == []


# -- lesson schedules ---------------------------------------------------------------------------


async def test_get_schedule_reads_the_millis_z_shape(client: DamstraClient, state: DamstraState) -> None:
    world = next(s for _, s in sorted(state.schedules.items()) if s.status == "completed")
    schedule = await client.get_lesson_schedule(world.id)
    assert (schedule.user_id, schedule.lesson_id, schedule.status) == (
        world.user_id,
        world.lesson_id,
        "completed",
    )
    assert schedule.start_date == world.start_date and schedule.start_date.tzinfo == UTC
    assert schedule.lesson_completed_date == world.completed
    assert schedule.lesson_completed_by == world.completed_by
    assert schedule.user_user_name == state.users[world.user_id].user_name
    with pytest.raises(UpstreamNotFound) as caught:
        await client.get_lesson_schedule(5)
    assert caught.value.upstream_code == 840


async def test_user_schedules_page_without_meta(
    client: DamstraClient, state: DamstraState, log: RequestLog
) -> None:
    uid = max(active_ids(state), key=lambda u: sum(1 for s in state.schedules.values() if s.user_id == u))
    mine = sorted(sid for sid, s in state.schedules.items() if s.user_id == uid)
    assert len(mine) >= 4
    window = await client.user_schedules(uid).window(start_index=1, max_results=2)
    assert [s.id for s in window.items] == mine[1:3] and window.total is None

    log.clear()
    assert [s.id for s in await client.user_schedules(uid).all(page_size=3)] == mine
    assert log.count("GET", f"/user/{uid}/lesson_schedule") == len(mine) // 3 + 1

    completed = await client.user_schedules(uid, status="completed").window()
    expected = [sid for sid in mine if state.schedules[sid].status == "completed"]
    assert [s.id for s in completed.items] == expected


async def test_schedule_user_then_already_scheduled(client: DamstraClient, state: DamstraState) -> None:
    uid = active_ids(state)[4]
    version = unscheduled_version(state, uid)
    start = datetime(2026, 12, 1, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    ids = await client.schedule_user(
        uid, [version], schedule_date=start, grace_period=10, grace_period_unit="days"
    )
    made = state.schedules[ids[0]]
    assert (made.user_id, made.lesson_version_id, made.status) == (uid, version, "scheduled")
    assert made.start_date == start and made.end_date == start + timedelta(days=10)

    with pytest.raises(UpstreamRejected) as caught:
        await client.schedule_user(uid, [version])
    assert caught.value.upstream_code == ALREADY_SCHEDULED
    assert caught.value.extensions()["upstreamCode"] == ALREADY_SCHEDULED


async def test_complete_lesson_and_certificate(client: DamstraClient, state: DamstraState) -> None:
    uid, by = active_ids(state)[5], active_ids(state)[0]
    version = unscheduled_version(state, uid)
    lesson = next(x for x in state.lessons.values() if x.lesson_version_id == version)
    [scheduled] = await client.schedule_user(uid, [version])
    with pytest.raises(UpstreamNotFound):
        await client.get_certificate(scheduled)  # only a passed, completed schedule has one

    when = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    ids = await client.complete_lesson(
        uid, lesson_id=lesson.lesson_id, completed_date=when, completed_by_user_id=by
    )
    assert ids == [scheduled]
    world = state.schedules[scheduled]
    assert (world.status, world.completed, world.completed_by) == ("completed", when, by)

    pdf = await client.get_certificate(scheduled)
    assert pdf.startswith(b"%PDF-")
    with pytest.raises(ValueError):
        await client.complete_lesson(uid)


async def test_embed_urls_and_their_refusals(client: DamstraClient, state: DamstraState) -> None:
    due = next(s for _, s in sorted(state.schedules.items()) if s.status == "due")
    url = await client.get_embed_url(due.id)
    assert url.startswith(f"https://app.velpic.com/#player/{due.id}?embed=true&token=")

    done = next(s for _, s in sorted(state.schedules.items()) if s.status == "completed")
    with pytest.raises(UpstreamRejected) as rejected:
        await client.get_embed_url(done.id)
    assert rejected.value.upstream_code == 837
    cancelled = next(s for _, s in sorted(state.schedules.items()) if s.status == "cancelled")
    with pytest.raises(UpstreamRejected) as rejected:
        await client.get_embed_url(cancelled.id)
    assert rejected.value.upstream_code == 836
    with pytest.raises(UpstreamNotFound) as missing:
        await client.get_embed_url(7)
    assert missing.value.upstream_code == 840


# -- ILT sessions ---------------------------------------------------------------------------------


async def test_ilt_sessions_list_get_and_the_perth_shape(client: DamstraClient, state: DamstraState) -> None:
    page = await client.ilt_sessions().window(max_results=3)
    assert [s.id for s in page.items] == sorted(state.ilt_sessions)[:3]
    assert page.total == len(state.ilt_sessions)
    assert [s.id for s in await client.ilt_sessions().all(page_size=4)] == sorted(state.ilt_sessions)
    cancelled = await client.ilt_sessions(status=3).window()
    assert {s.id for s in cancelled.items} == {s.id for s in state.ilt_sessions.values() if s.status_id == 3}

    world = state.ilt_sessions[min(state.ilt_sessions)]
    session = await client.get_ilt_session(world.id)
    # `2018-05-19T01:00:06.000+0800` comes back as the same instant in UTC.
    assert session.start_datetime == world.start and session.start_datetime.tzinfo == UTC
    assert session.end_datetime == world.end
    assert session.state in ("upcoming", "inprogress", "past")
    attendees = [a for a in state.attendees.values() if a.session_id == world.id]
    assert session.number_of_attendees == len(attendees)
    assert session.lesson_name == state.lessons[world.lesson_id].name

    some = attendees[0]
    by_schedule = await client.ilt_sessions(lesson_schedule_id=some.lesson_schedule_id).window()
    assert world.id in {s.id for s in by_schedule.items}
    by_instructor = await client.ilt_sessions(instructor_id=world.instructor_id, state=None).window()
    assert all(s.instructor_id == world.instructor_id for s in by_instructor.items)


async def test_ilt_session_lifecycle(client: DamstraClient, state: DamstraState) -> None:
    instructor = next(uid for uid in active_ids(state) if 8 in state.users[uid].roles)
    lesson = next(x for _, x in sorted(state.lessons.items()) if x.instructor_led and x.status == "active")
    start = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    made = await client.create_ilt_session(
        DamstraILTSessionInput(
            lesson_id=lesson.lesson_id,
            start_datetime=start,
            end_datetime=start + timedelta(hours=3),
            location="Room 9",
            instructor_id=instructor,
            notes="Bring boots",
            number_of_places=6,
        )
    )
    world = state.ilt_sessions[made.id]
    assert (world.location, world.start, world.number_of_places, world.status_id) == ("Room 9", start, 6, 1)
    assert made.start_datetime == start

    changed = await client.update_ilt_session(
        made.id, DamstraILTSessionInput(notes="Boots and hat", number_of_places=8)
    )
    assert changed.notes == "Boots and hat" and world.number_of_places == 8 and world.location == "Room 9"

    trainee = next(uid for uid in active_ids(state) if uid != instructor)
    busy = any(
        s.user_id == trainee and s.lesson_id == lesson.lesson_id and s.status in OPEN
        for s in state.schedules.values()
    )
    if not busy:
        await client.schedule_user(trainee, [lesson.lesson_version_id])
    await client.bulk_register(made.id, [trainee])
    [attendee] = await client.list_attendees(made.id)
    assert (attendee.user_id, attendee.session_id, attendee.passed) == (trainee, made.id, False)
    assert attendee.created_date is not None and attendee.created_date.tzinfo == UTC

    await client.save_attendance(made.id, [(attendee.id, True, None)])
    assert state.attendees[attendee.id].passed is True and state.attendees[attendee.id].attended is False
    await client.bulk_deregister(made.id, [trainee])
    assert await client.list_attendees(made.id) == []
    await client.bulk_register(made.id, [trainee])

    await client.complete_ilt_session(made.id)
    assert world.status_id == 2
    schedule = next(
        s for s in state.schedules.values() if s.user_id == trainee and s.lesson_id == lesson.lesson_id
    )
    assert schedule.status == "completed"


async def test_cancel_ilt_session_with_notification_flags(client: DamstraClient, state: DamstraState) -> None:
    world = next(s for _, s in sorted(state.ilt_sessions.items()) if s.status_id == 1)
    await client.cancel_ilt_session(world.id, notify_trainees=False, notify_instructor=True)
    assert world.status_id == 3
    assert (world.trainee_notification, world.instructor_notification) == (False, True)
    session = await client.get_ilt_session(world.id)
    assert session.ilt_session_cancellation_trainee_notification_enabled is False
    assert session.ilt_session_cancellation_instructor_notification_enabled is True


# -- failures -------------------------------------------------------------------------------------


async def test_a_bad_key_is_unauthorized_and_never_echoed(
    connect: Callable[..., DamstraClient], log: RequestLog
) -> None:
    secret = "wrong-key-0123456789"
    damstra = connect(DamstraClient, Source.DAMSTRA, secret=SecretStr(secret))
    try:
        with pytest.raises(UpstreamUnauthorized) as caught:
            await damstra.users().window()
    finally:
        await damstra.aclose()
    error = caught.value
    assert error.upstream_code == 806 and error.status_code == 401
    for text in (str(error), repr(error), error.message, str(error.extensions())):
        assert secret not in text and CREDENTIALS[Source.DAMSTRA] not in text
    assert log.count() == 1  # an auth failure is not retried


BAD_IDS = ["../user", "1?x=1", "1#", "1/2", "", " 1", "-1", "1.0", "%2e%2e"]


def calls_with(client: DamstraClient, bad: Any) -> list[Callable[[], Awaitable[Any]]]:
    return [
        lambda: client.get_user(bad),
        lambda: client.update_user(bad, DamstraUserInput(first_name="x")),
        lambda: client.activate_user(bad),
        lambda: client.generate_login_url(bad),
        lambda: client.get_group(bad),
        lambda: client.update_group(bad, "x"),
        lambda: client.group_members(bad).window(),
        lambda: client.add_group_supervisors(bad, [1]),
        lambda: client.add_group_members(1, [bad]),
        lambda: client.get_lesson_schedule(bad),
        lambda: client.user_schedules(bad).window(),
        lambda: client.schedule_user(bad, [1]),
        lambda: client.complete_lesson(bad, lesson_id=1),
        lambda: client.get_certificate(bad),
        lambda: client.get_ilt_session(bad),
        lambda: client.update_ilt_session(bad, DamstraILTSessionInput(notes="x")),
        lambda: client.cancel_ilt_session(bad),
        lambda: client.bulk_register(bad, [1]),
        lambda: client.list_attendees(bad),
        lambda: client.save_attendance(1, [(bad, True, True)]),
        lambda: client.get_embed_url(bad),
        lambda: client.get_lessons_by_id([1000, bad]),
    ]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_ids_that_could_steer_a_path_send_nothing(
    client: DamstraClient, log: RequestLog, bad: str
) -> None:
    for call in calls_with(client, bad):
        with pytest.raises(InvalidNativeId):
            await call()
    with pytest.raises(InvalidNativeId):
        client.user_schedules(bad)  # checked when the listing is declared, before any page
    assert log.entries == []


async def test_reads_are_retried_and_writes_are_not(
    client: DamstraClient, sandbox: Sandbox, state: DamstraState, log: RequestLog
) -> None:
    faults = sandbox.controls[Source.DAMSTRA].faults
    faults.fail_next = 2
    assert (await client.get_group(200)).id == 200
    assert log.count("GET", "/group/200") == 3

    log.clear()
    groups_before = len(state.groups)
    faults.fail_next = 1
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.create_group("Never made")
    assert caught.value.upstream_code == 500 and caught.value.status_code == 500
    assert log.count() == 1 and len(state.groups) == groups_before

    log.clear()
    faults.fail_next = 3  # more failures than attempts: the read gives up
    with pytest.raises(UpstreamUnavailable):
        await client.lessons().window()
    assert log.count("GET", "/lesson") == 3


async def test_a_hanging_upstream_times_out(sandbox: Sandbox, sandbox_address: str, log: RequestLog) -> None:
    faults = sandbox.controls[Source.DAMSTRA].faults
    faults.hang_next, faults.hang_seconds = 1, 2
    damstra = DamstraClient.connect(
        sandbox.base_url(sandbox_address, Source.DAMSTRA),
        secret=SecretStr(CREDENTIALS[Source.DAMSTRA]),
        timeout_seconds=0.3,
        retry_attempts=1,
        retry_wait_seconds=0.0,
    )
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            await damstra.get_user(10_000)
        assert caught.value.code == "UPSTREAM_TIMEOUT"
        assert log.count("GET", "/user/10000") == 1
        assert (await damstra.get_user(10_000)).id == 10_000  # the next request is answered
    finally:
        await damstra.aclose()


# -- the decoder on the API document's bodies -----------------------------------------------------


def answer(status: int, body: Any = None, content: bytes | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://app.velpic.com/api/v2/user")
    if content is not None:
        return httpx.Response(status, content=content, request=request)
    return httpx.Response(status, json=body, request=request)


def decode(status: int, body: Any) -> Any:
    return decode_damstra_error(Source.DAMSTRA, answer(status, body), body)


SEED_806 = {
    "message": "AccessKey does not exist",
    "reason": "Invalid access key",
    "internalCode": 806,
    "error": "Invalid security token",
}


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "message"),
    [
        (401, SEED_806, UpstreamUnauthorized, 806, "AccessKey does not exist"),
        (200, SEED_806, UpstreamUnauthorized, 806, "AccessKey does not exist"),
        (
            200,
            {"internalCode": 806, "error": "Token not valid"},
            UpstreamUnauthorized,
            806,
            "Token not valid",
        ),
        (
            403,
            {"internalCode": 831, "error": "You are not authorised to make this request"},
            UpstreamForbidden,
            831,
            "You are not authorised to make this request",
        ),
        (
            404,
            {
                "message": "Group with id 1 not found",
                "reason": "Group not found",
                "internalCode": 842,
                "statusCode": 404,
            },
            UpstreamNotFound,
            842,
            "Group with id 1 not found",
        ),
        (200, {"internalCode": 840, "error": "Lesson Schedule does not exist"}, UpstreamNotFound, 840, None),
        (
            200,
            {"internalCode": 837, "error": "This lesson schedule is completed"},
            UpstreamRejected,
            837,
            None,
        ),
        (
            400,
            {"internalCode": 836, "error": "This lesson schedule is cancelled"},
            UpstreamRejected,
            836,
            None,
        ),
        (500, {"internalCode": 500, "error": "Internal Server Error"}, UpstreamUnavailable, 500, None),
        (200, {"internalCode": 500, "error": "Internal Server Error"}, UpstreamUnavailable, 500, None),
        (200, {"error": "Lesson Schedule already exists"}, UpstreamRejected, ALREADY_SCHEDULED, None),
        (409, {"error": "Lesson Schedule already exists"}, UpstreamRejected, ALREADY_SCHEDULED, None),
        # The API document's group 404: `"error": true` and an unfinished `"internalCode": TBD`.
        (
            404,
            {
                "message": "No group found for that Id",
                "reason": "No Group found",
                "error": True,
                "internalCode": "TBD",
                "statusCode": 404,
            },
            UpstreamNotFound,
            None,
            "No group found for that Id",
        ),
        (
            200,
            {"message": "No group found for that Id", "error": True, "statusCode": 404},
            UpstreamNotFound,
            None,
            "No group found for that Id",
        ),
        (200, {"error": "Something odd"}, UpstreamRejected, None, "Something odd"),
        (429, {"message": "Slow down"}, None, None, "Slow down"),
    ],
)
def test_decoder_maps_the_seeds_error_bodies(
    status: int, body: dict[str, Any], kind: type[Exception] | None, code: Any, message: str | None
) -> None:
    error = decode(status, body)
    assert error is not None
    if kind is not None:
        assert type(error) is kind
    assert error.upstream_code == code
    assert error.message == (message or body.get("message") or body["error"])
    assert error.source == "damstra"


def test_decoder_leaves_successes_and_bare_failures_alone() -> None:
    assert decode(200, {"results": [], "meta": {"totalResultCount": 0}}) is None
    assert decode(200, [{"id": 1}]) is None
    assert decode(200, {"ids": [1, 2]}) is None
    assert decode(200, {"error": False, "id": 3}) is None
    assert decode(200, None) is None
    # No JSON at all (the API document's unparseable `"internalCode": TBD`): http.py maps the status alone.
    raw = b'{"message":"No group found for that Id","error":true,"internalCode":TBD,"statusCode":404}'
    assert decode_damstra_error(Source.DAMSTRA, answer(404, content=raw), None) is None
    assert type(decode(429, {"message": "Slow down"})).__name__ == "UpstreamRateLimited"
    assert decode(200, {"error": "Something odd"}).status_code == 200
    assert decode(200, {"error": True, "statusCode": 404}).status_code == 404
