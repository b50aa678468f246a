"""The DAMSTRA sandbox app, spoken to as the documented API: plain HTTP requests, no connector."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dates import parse_datetime
from gateway.sources import Source
from sandbox.server import CREDENTIALS, Sandbox, serve_on_loopback
from sandbox.world import STATUS_NOT_CURRENT, DamstraState

BASE = "http://sandbox.test/damstra/api/v2"
KEY = {"AccessKey": CREDENTIALS[Source.DAMSTRA]}

OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PLAIN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
PERTH = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0800$")


@pytest.fixture
async def api(sandbox_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=sandbox_transport, base_url=BASE, headers=KEY) as client:
        yield client


def state_of(sandbox: Sandbox) -> DamstraState:
    return sandbox.world.damstra


def active_version(state: DamstraState, unscheduled_for: int) -> int:
    """A schedulable lesson version the user has no open schedule for."""
    busy = {
        s.lesson_id
        for s in state.schedules.values()
        if s.user_id == unscheduled_for and s.status in ("scheduled", "due", "overdue")
    }
    lesson = next(
        x for _, x in sorted(state.lessons.items()) if x.status == "active" and x.lesson_id not in busy
    )
    return lesson.lesson_version_id


# -- auth, faults, unknown things ------------------------------------------------------------------


async def test_a_missing_or_wrong_access_key_answers_806(
    api: httpx.AsyncClient, sandbox_transport: httpx.ASGITransport
) -> None:
    expected = {
        "message": "AccessKey does not exist",
        "reason": "Invalid access key",
        "internalCode": 806,
        "error": "Invalid security token",
    }
    for headers in ({"AccessKey": ""}, {"AccessKey": "not-the-key"}):
        response = await api.get("/user", headers=headers)
        assert response.status_code == 401
        assert response.json() == expected
    async with httpx.AsyncClient(transport=sandbox_transport, base_url=BASE) as bare:
        assert (await bare.post("/group", json={"name": "x"})).json()["internalCode"] == 806
    # The header name is case-insensitive, as the API document's own examples send `accesskey`.
    assert (await api.get("/user", headers={"accesskey": KEY["AccessKey"]})).status_code == 200


async def test_injected_faults_answer_the_seeds_500_body(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.controls[Source.DAMSTRA].faults.fail_next = 1
    response = await api.get("/user")
    assert response.status_code == 500
    assert response.json() == {"internalCode": 500, "error": "Internal Server Error"}
    assert (await api.get("/user")).status_code == 200


async def test_unknown_and_non_numeric_ids_answer_json_errors(api: httpx.AsyncClient) -> None:
    for path in ("/user/99999999", "/ilt_session/99999999"):
        response = await api.get(path)
        assert response.status_code == 404
        assert response.json()["message"].endswith("with id 99999999 not found")
    response = await api.get("/lesson_schedule/1")
    assert (response.status_code, response.json()) == (
        404,
        {"internalCode": 840, "error": "Lesson Schedule does not exist"},
    )
    response = await api.get("/user/abc")
    assert response.status_code == 400 and response.json()["reason"] == "Invalid id"
    response = await api.get("/no/such/endpoint")
    assert response.status_code == 404 and response.json()["statusCode"] == 404


# -- paging ------------------------------------------------------------------------------------


async def test_user_list_pages_with_start_index_and_max_results(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    state = state_of(sandbox)
    active_ids = sorted(u.id for u in state.users.values() if u.client_status_id != STATUS_NOT_CURRENT)
    first = (await api.get("/user", params={"maxResults": 5})).json()
    assert [u["id"] for u in first["results"]] == active_ids[:5]
    assert first["meta"] == {"totalResultCount": len(active_ids), "startIndex": 0, "endIndex": 5}
    tail = (await api.get("/user", params={"startIndex": len(active_ids) - 2, "maxResults": 5})).json()
    assert [u["id"] for u in tail["results"]] == active_ids[-2:]
    assert tail["meta"]["endIndex"] == len(active_ids)
    # No maxResults: a default page of 20 (the API document's "Default is 0" would answer nothing).
    assert len((await api.get("/user")).json()["results"]) == 20
    everyone = (await api.get("/user", params={"maxResults": 5000})).json()
    assert len(everyone["results"]) == len(active_ids)
    assert (await api.get("/user", params={"maxResults": -1})).status_code == 400


async def test_group_lesson_and_ilt_lists_page_the_same_way(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    group = state.groups[200]
    for path, total in (
        ("/group", len(state.groups)),
        ("/group/200/member", len(group.member_ids)),
        ("/group/200/supervisor", len(group.supervisor_ids)),
        ("/lesson", len(state.lessons)),
        ("/lessondetails", len(state.lessons)),
        ("/ilt_session", len(state.ilt_sessions)),
    ):
        body = (await api.get(path, params={"startIndex": 1, "maxResults": 2})).json()
        assert body["meta"]["totalResultCount"] == total, path
        assert body["meta"]["startIndex"] == 1
        assert body["meta"]["endIndex"] == 1 + len(body["results"]) == min(3, total), path
    members = (await api.get("/group/200/member", params={"maxResults": 1000})).json()["results"]
    assert [u["id"] for u in members] == sorted(group.member_ids)


async def test_user_lesson_schedules_page_without_meta(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    mine = sorted(s.id for s in state.schedules.values() if s.user_id == 10000)
    body = (await api.get("/user/10000/lesson_schedule", params={"maxResults": 2})).json()
    assert body.keys() == {"results"}  # as the API document shows it: no meta
    assert [s["id"] for s in body["results"]] == mine[:2]
    rest = (await api.get("/user/10000/lesson_schedule", params={"startIndex": 2, "maxResults": 100})).json()
    assert [s["id"] for s in rest["results"]] == mine[2:]
    completed = (await api.get("/user/10000/lesson_schedule", params={"status": "completed"})).json()
    assert {s["status"] for s in completed["results"]} <= {"completed"}
    assert len(completed["results"]) == sum(
        1 for s in state.schedules.values() if s.user_id == 10000 and s.status == "completed"
    )
    assert (await api.get("/user/10000/lesson_schedule", params={"status": "late"})).status_code == 400


# -- users -----------------------------------------------------------------------------------


async def test_user_search_filters(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    ava = state.users[10000]

    async def ids(**params: Any) -> list[int]:
        body = (await api.get("/user", params={"maxResults": 1000, **params})).json()
        return [u["id"] for u in body["results"]]

    assert 10000 in await ids(q=ava.first_name.upper())
    assert 10000 in await ids(q=f"{ava.first_name} {ava.last_name}")
    assert all(
        "ava" in f"{u.user_name} {u.first_name} {u.last_name}".lower()
        for u in (state.users[i] for i in await ids(q="ava"))
    )
    assert await ids(empId=ava.employee_number) == [10000]
    assert await ids(empId=ava.employee_number.lower()) == []  # an exact match
    assert await ids(emailAddress=ava.email_address.upper()) == [10000]
    inactive = sorted(u.id for u in state.users.values() if u.client_status_id == STATUS_NOT_CURRENT)
    assert inactive and await ids(activeValue="inactive") == inactive
    assert len(await ids(activeValue="all")) == len(state.users)
    assert not set(inactive) & set(await ids())
    assert await ids(roleId=3) == [10000]
    assert (await api.get("/user", params={"activeValue": "some"})).status_code == 400


async def test_user_shape_and_writes(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    user = (await api.get("/user/10000")).json()
    assert user["groups"] and all(g.keys() == {"id"} for g in user["groups"])
    assert user["clientStatusId"] == 56 and user["active"] is True and user["roles"] == [3, 5]
    for key in ("createdDate", "modifiedDate", "lastLoggedInDate"):
        assert OFFSET.match(user[key]), key

    created = await api.post(
        "/user",
        json={"userName": "j.smith", "firstName": "John", "lastName": "Smith", "groups": [{"id": 201}]},
    )
    assert created.status_code == 200
    assert created.json().keys() == {"id", "createdDate", "modifiedDate"}
    assert MILLIS_Z.match(created.json()["createdDate"])
    new_id = created.json()["id"]
    assert (await api.get(f"/user/{new_id}")).json()["groups"] == [{"id": 201}]
    assert (
        await api.post("/user", json={"userName": "J.SMITH", "firstName": "J", "lastName": "S"})
    ).status_code == 409

    updated = await api.post(f"/user/{new_id}", json={"firstName": "Jon", "roles": [6, 8]})
    assert updated.json()["firstName"] == "Jon" and updated.json()["roles"] == [6, 8]
    # Update User's verb is the one the sandbox is set to (POST unless told): the other is a 405.
    put = await api.put(f"/user/{new_id}", json={"id": new_id, "lastName": "Smyth"})
    assert (put.status_code, put.headers["allow"]) == (405, "POST")
    assert (await api.get(f"/user/{new_id}")).json()["lastName"] == "Smith"
    sandbox.controls[Source.DAMSTRA].update_user_method = "PUT"
    assert (await api.put(f"/user/{new_id}", json={"id": new_id, "lastName": "Smyth"})).json()[
        "lastName"
    ] == "Smyth"
    assert (await api.post(f"/user/{new_id}", json={"lastName": "Smith"})).status_code == 405
    mismatched = await api.put(f"/user/{new_id}", json={"id": new_id + 1, "lastName": "X"})
    assert mismatched.status_code == 400
    # An id on `POST /user` is not an update in disguise: it would make a second user.
    assert (
        await api.post("/user", json={"id": new_id, "firstName": "J", "lastName": "S"})
    ).status_code == 400

    assert (await api.post(f"/user/{new_id}/inactivate")).status_code == 200
    assert (await api.get(f"/user/{new_id}")).json()["clientStatusId"] == 57
    await api.post(f"/user/{new_id}/activate")
    assert (await api.get(f"/user/{new_id}")).json()["active"] is True

    link = await api.post(f"/user/{new_id}/generate_login_url", params={"expiresIn": "week"})
    assert link.status_code == 200 and link.text.startswith("https://")  # the bare URL, as documented
    assert (
        await api.post(f"/user/{new_id}/generate_login_url", params={"expiresIn": "hour"})
    ).status_code == 400


async def test_bulk_import_merges_on_the_chosen_field(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    ava = state_of(sandbox).users[10000]
    body = {
        "mergeType": "email",
        "users": [
            {"userName": "x", "firstName": "Ava", "lastName": "Changed", "emailAddress": ava.email_address},
            {
                "userName": "brand.new",
                "firstName": "Bran",
                "lastName": "New",
                "emailAddress": "bran@example.com",
            },
        ],
    }
    response = await api.post("/bulkUserImport", json=body)
    merged, made = response.json()
    assert merged["id"] == 10000 and merged["lastName"] == "Changed"
    assert merged["roles"] == [6]  # "If none is specified it will reset role to trainee"
    assert made["id"] not in (10000,) and made["userName"] == "brand.new"
    assert (await api.post("/bulkUserImport", json={**body, "mergeType": "nope"})).status_code == 400


# -- groups ------------------------------------------------------------------------------------


async def test_unknown_or_inactive_groups_answer_842(api: httpx.AsyncClient) -> None:
    def body(gid: int) -> dict[str, Any]:
        return {
            "message": f"Group with id {gid} not found",
            "reason": "Group not found",
            "internalCode": 842,
            "statusCode": 404,
        }

    for response in (
        await api.get("/group/999"),
        await api.post("/group/999/add_members", json={"userIds": [10000]}),
        await api.get("/group/999/member"),
    ):
        assert (response.status_code, response.json()) == (404, body(999))
    created = (await api.post("/group", json={"name": "Night Shift", "parentId": 200})).json()
    assert created["parentId"] == 200 and created["memberCount"] == 0 and PLAIN.match(created["createdDate"])
    gid = created["id"]
    assert (await api.post(f"/group/{gid}/add_members", json={"userIds": [10000, 10001]})).content == b""
    assert (await api.get(f"/group/{gid}")).json()["memberCount"] == 2
    await api.post(f"/group/{gid}/remove_members", json={"userIds": [10001]})
    await api.post(f"/group/{gid}/add_supervisors", json={"userIds": [10001]})
    assert [u["id"] for u in (await api.get(f"/group/{gid}/member")).json()["results"]] == [10000]
    assert [u["id"] for u in (await api.get(f"/group/{gid}/supervisor")).json()["results"]] == [10001]
    assert (await api.post(f"/group/{gid}", json={"name": "Nights"})).json()["name"] == "Nights"
    assert (await api.get("/group", params={"q": "night"})).json()["meta"]["totalResultCount"] == 1

    assert (await api.post(f"/group/{gid}/inactivate")).status_code == 200
    assert (await api.get(f"/group/{gid}")).json() == body(gid)
    assert (await api.get("/group", params={"q": "night"})).json()["results"] == []
    assert {"id": gid} not in (await api.get("/user/10000")).json()["groups"]


# -- lessons -----------------------------------------------------------------------------------


async def test_lesson_ids_fetch_many_lessons_in_one_request(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    log = sandbox.controls[Source.DAMSTRA].log
    log.clear()
    body = (await api.get("/lesson", params={"lessonIds": "1003,1000,1012", "maxResults": 100})).json()
    assert [x["lessonId"] for x in body["results"]] == [1000, 1003, 1012]
    assert log.count(method="GET", path_prefix="/lesson") == 1
    lesson = body["results"][0]
    assert OFFSET.match(lesson["createdDate"]) and isinstance(lesson["duration"], int)
    repeated = await api.get("/lessondetails", params=[("lessonIds", "1000"), ("lessonIds", "1003")])
    assert [x["lessonId"] for x in repeated.json()["results"]] == [1000, 1003]
    assert repeated.json()["results"][0]["published"] == 65
    assert (await api.get("/lesson", params={"lessonIds": "10a"})).status_code == 400


async def test_published_states_filter_lessons(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    body = (await api.get("/lesson", params={"publishedStates": "inactive,error", "maxResults": 1000})).json()
    expected = sorted(x.lesson_id for x in state.lessons.values() if x.status in ("inactive", "error"))
    assert expected and [x["lessonId"] for x in body["results"]] == expected
    assert (await api.get("/lesson", params={"publishedStates": "published"})).status_code == 400
    named = (await api.get("/lesson", params={"q": "fire safety"})).json()["results"]
    assert [x["name"] for x in named] == ["Fire Safety"]


# -- lesson schedules ----------------------------------------------------------------------------


async def test_schedule_then_complete_a_lesson(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    version = active_version(state, 10001)
    answer = await api.post(
        "/user/10001/lesson_schedule",
        json={"lessonVersionIds": [version], "gracePeriod": "1", "gracePeriodUnit": "months"},
    )
    assert answer.status_code == 200
    [schedule_id] = answer.json()["ids"]
    schedule = (await api.get(f"/lesson_schedule/{schedule_id}")).json()
    assert schedule["status"] == "due" and schedule["active"] is True and schedule["userId"] == 10001
    assert MILLIS_Z.match(schedule["startDate"]) and MILLIS_Z.match(schedule["createdDate"])
    start, end = parse_datetime(schedule["startDate"]), parse_datetime(schedule["endDate"])
    assert start and end and 28 <= (end - start).days <= 31

    again = await api.post("/user/10001/lesson_schedule", json={"lessonVersionIds": [version]})
    assert (again.status_code, again.json()) == (409, {"error": "Lesson Schedule already exists"})

    lesson_id = schedule["lessonId"]
    done = await api.post(
        "/lesson_schedule/10001/complete_lesson",
        json={
            "lessonId": lesson_id,
            "completedDate": "2026-10-30T10:00:00+0000",
            "manuallyCompletedByUserId": 10000,
        },
    )
    assert done.json() == {"ids": [schedule_id]}  # the open schedule is the one completed
    completed = (await api.get(f"/lesson_schedule/{schedule_id}")).json()
    assert completed["status"] == "completed" and completed["active"] is False
    assert completed["lessonCompletedDate"] == "2026-10-30T10:00:00.000Z"
    assert completed["lessonCompletedBy"] == 10000

    # Nothing open for the lesson any more: a completion is recorded as a new, completed schedule.
    fresh = (
        await api.post("/lesson_schedule/10001/complete_lesson", json={"lessonVersionId": version})
    ).json()
    assert fresh["ids"] != [schedule_id] and state.schedules[fresh["ids"][0]].status == "completed"
    # And the lesson can be scheduled again.
    assert (
        await api.post("/user/10001/lesson_schedule", json={"lessonVersionIds": [version]})
    ).status_code == 200


async def test_scheduling_refuses_what_the_seed_rules_out(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    version = active_version(state, 10001)
    inactive = next(x for x in state.lessons.values() if x.status == "inactive").lesson_version_id
    cases = [
        ({"lessonVersionIds": [version], "gracePeriod": "14"}, 400),  # gracePeriod needs its unit
        ({"lessonVersionIds": [version], "gracePeriod": "14", "gracePeriodUnit": "weeks"}, 400),
        ({"lessonVersionIds": [inactive]}, 400),
        ({"lessonVersionIds": [version, 1]}, 404),
        ({"lessonVersionIds": []}, 400),
    ]
    for body, status in cases:
        response = await api.post("/user/10001/lesson_schedule", json=body)
        assert response.status_code == status, body
        assert response.json()["message"]
    # All or nothing: the good version in the failed requests was not scheduled.
    assert (
        await api.post("/user/10001/lesson_schedule", json={"lessonVersionIds": [version]})
    ).status_code == 200
    future = (datetime(2026, 12, 1, tzinfo=UTC)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    other = active_version(state, 10002)
    ids = (
        await api.post(
            "/user/10002/lesson_schedule", json={"lessonVersionIds": [other], "scheduleDate": future}
        )
    ).json()
    assert state.schedules[ids["ids"][0]].status == "scheduled"


async def test_certificate_only_for_a_passed_completed_schedule(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    state = state_of(sandbox)
    passed = next(s for s in state.schedules.values() if s.status == "completed" and s.passed)
    response = await api.get(f"/lesson_schedule/{passed.id}/certificate")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")
    assert state.users[passed.user_id].last_name.encode() in response.content
    due = next(s for s in state.schedules.values() if s.status == "due")
    assert (await api.get(f"/lesson_schedule/{due.id}/certificate")).status_code == 404
    assert (await api.get("/lesson_schedule/5/certificate")).json()["internalCode"] == 840


async def test_embed_player_urls_and_their_refusals(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    due = next(s for s in state.schedules.values() if s.status == "due")
    url = (await api.get("/embed_player", params={"lessonScheduleId": due.id})).json()["embedUrl"]
    assert url.startswith(f"https://app.velpic.com/#player/{due.id}?embed=true&token=")
    assert (await api.get(f"/embed_player/version/{due.id}")).json()["embedUrl"] == url
    done = next(s for s in state.schedules.values() if s.status == "completed")
    gone = next(s for s in state.schedules.values() if s.status == "cancelled")
    for schedule_id, status, code in ((1, 404, 840), (done.id, 409, 837), (gone.id, 409, 836)):
        response = await api.get("/embed_player", params={"lessonScheduleId": schedule_id})
        assert (response.status_code, response.json()["internalCode"]) == (status, code)


# -- ILT sessions ------------------------------------------------------------------------------


async def test_ilt_dates_and_state_follow_the_clock(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    session = sandbox.world.damstra.ilt_sessions[400]
    body = (await api.get("/ilt_session/400")).json()
    assert PERTH.match(body["startDatetime"]) and PERTH.match(body["createdDate"])
    assert parse_datetime(body["startDatetime"]) == session.start  # +0800, same instant
    controls = sandbox.controls[Source.DAMSTRA]
    for now, state, number in (
        (session.start - timedelta(hours=1), "upcoming", 1),
        (session.start + (session.end - session.start) / 2, "inprogress", 2),
        (session.end + timedelta(minutes=1), "past", 3),
    ):
        controls.pinned_now = now
        assert (await api.get("/ilt_session/400")).json()["state"] == state
        listed = (await api.get("/ilt_session", params={"state": number, "maxResults": 1000})).json()[
            "results"
        ]
        assert 400 in [s["id"] for s in listed]
    assert (await api.get("/ilt_session", params={"state": 4})).status_code == 400


async def test_ilt_filters(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    attendee = next(iter(state.attendees.values()))
    by_schedule = await api.get("/ilt_session", params={"lessonScheduleId": attendee.lesson_schedule_id})
    assert [s["id"] for s in by_schedule.json()["results"]] == [attendee.session_id]
    cancelled = (await api.get("/ilt_session", params={"status": 3, "maxResults": 1000})).json()["results"]
    assert cancelled and {s["statusId"] for s in cancelled} == {3}
    instructor = state.ilt_sessions[400].instructor_id
    mine = (await api.get("/ilt_session", params={"instructorId": instructor, "maxResults": 1000})).json()
    assert mine["meta"]["totalResultCount"] == sum(
        1 for s in state.ilt_sessions.values() if s.instructor_id == instructor
    )


async def test_registering_needs_a_schedule_for_the_sessions_lesson(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    state = state_of(sandbox)
    created = await api.post(
        "/ilt_session",
        json={
            "lessonId": 1003,
            "startDatetime": "2026-12-01T09:00:00.000+0800",
            "endDatetime": "2026-12-01T17:00:00.000+0800",
            "location": "Depot 3",
            "instructorId": 10002,
            "notes": "Bring boots",
        },
    )
    assert created.status_code == 200
    session = created.json()
    assert session["startDatetime"] == "2026-12-01T09:00:00.000+0800" and session["statusId"] == 1
    sid = session["id"]

    outsiders = [
        uid
        for uid in sorted(state.users)
        if not any(
            s.user_id == uid and s.lesson_id == 1003 and s.status in ("scheduled", "due", "overdue")
            for s in state.schedules.values()
        )
    ][:2]
    refused = await api.post(f"/ilt_session/{sid}/bulk_register", json={"userIds": outsiders})
    assert refused.status_code == 400
    assert refused.json()["userIds"] == outsiders
    assert all(str(uid) in refused.json()["message"] for uid in outsiders)

    version = state.lessons[1003].lesson_version_id
    for uid in outsiders:
        await api.post(f"/user/{uid}/lesson_schedule", json={"lessonVersionIds": [version]})
    assert (
        await api.post(f"/ilt_session/{sid}/bulk_register", json={"userIds": outsiders})
    ).status_code == 200
    attendees = (await api.get(f"/ilt_session/{sid}/attendees")).json()
    assert [a["userId"] for a in attendees["results"]] == outsiders
    assert attendees["meta"]["totalResultCount"] == 2 and PERTH.match(attendees["results"][0]["createdDate"])

    first, second = attendees["results"]
    progress = {"attendees": [{"id": first["id"], "passed": True, "attended": True}]}
    assert (await api.post(f"/ilt_session/{sid}/save_progress", json=progress)).status_code == 200
    detail = (await api.get(f"/ilt_session/{sid}")).json()
    assert (detail["numberOfAttendees"], detail["attendanceRate"], detail["passRate"]) == (2, 50, 50)

    assert (await api.post(f"/ilt_session/{sid}/complete")).status_code == 200
    assert (await api.get(f"/ilt_session/{sid}")).json()["statusId"] == 2
    schedules = [state.schedules[a["lessonScheduleId"]] for a in (first, second)]
    assert [(s.status, s.passed) for s in schedules] == [("completed", True), ("completed", False)]
    certificate = await api.get(f"/lesson_schedule/{first['lessonScheduleId']}/certificate")
    assert certificate.status_code == 200


async def test_ilt_update_cancel_and_deregister(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    session = next(s for s in state.ilt_sessions.values() if s.status_id == 1)
    patched = await api.patch(f"/ilt_session/{session.id}", json={"location": "Online", "numberOfPlaces": 3})
    assert patched.json()["location"] == "Online" and patched.json()["numberOfPlaces"] == 3
    attendees = (await api.get(f"/ilt_session/{session.id}/attendees")).json()["results"]
    leaving = attendees[0]["userId"]
    await api.post(f"/ilt_session/{session.id}/bulk_deregister", json={"userIds": [leaving]})
    remaining = (await api.get(f"/ilt_session/{session.id}/attendees")).json()["results"]
    assert leaving not in [a["userId"] for a in remaining]

    flags = {
        "iltSessionCancellationTraineeNotificationEnabled": False,
        "iltSessionCancellationInstructorNotificationEnabled": True,
    }
    assert (await api.post(f"/ilt_session/{session.id}/cancel_session", json=flags)).status_code == 200
    detail = (await api.get(f"/ilt_session/{session.id}")).json()
    assert detail["statusId"] == 3 and detail["iltSessionCancellationTraineeNotificationEnabled"] is False
    assert {state.schedules[a["lessonScheduleId"]].status for a in remaining} == {"cancelled"}
    assert (await api.post(f"/ilt_session/{session.id}/complete")).status_code == 400


# -- webhooks ----------------------------------------------------------------------------------


async def test_writes_post_the_seeds_webhook_events(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    arrived = asyncio.Event()

    async def collect(request: Request) -> Response:
        received.append((await request.json(), request.headers.get("x-learngraph-webhook-secret")))
        arrived.set()
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/hook", collect, methods=["POST"])])
    async with serve_on_loopback(receiver) as address:
        controls = sandbox.controls[Source.DAMSTRA]
        controls.webhook_url = f"{address}/hook"
        controls.webhook_secret = "shh"
        version = active_version(state_of(sandbox), 10003)
        ids = (await api.post("/user/10003/lesson_schedule", json={"lessonVersionIds": [version]})).json()[
            "ids"
        ]
        await api.post("/lesson_schedule/10003/complete_lesson", json={"lessonVersionId": version})
        await api.post("/user/10003/inactivate")
        async with asyncio.timeout(5):
            while len(received) < 3:
                arrived.clear()
                await arrived.wait()

    (created, secret), (completed, _), (inactivated, _) = received
    assert secret == "shh"
    assert created.keys() == {"name", "lessonScheduleId", "userID", "timeStamp"}
    assert (created["name"], created["lessonScheduleId"], created["userID"]) == (
        "lesson.schedule.created",
        str(ids[0]),
        "10003",
    )
    assert completed.keys() == {"name", "lessonScheduleId", "userId", "timeStamp"}  # documented `userId` here
    assert completed["name"] == "lesson.schedule.completed" and MILLIS_Z.match(completed["timeStamp"])
    assert inactivated == {
        "name": "user.account.inactivate",
        "userName": state_of(sandbox).users[10003].user_name,
        "userId": "10003",
        "timeStamp": inactivated["timeStamp"],
    }


async def test_an_unreachable_webhook_never_fails_the_api(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.controls[Source.DAMSTRA].webhook_url = "http://127.0.0.1:9/nothing-listens"
    response = await api.post("/user", json={"userName": "quiet", "firstName": "Q", "lastName": "Uiet"})
    assert response.status_code == 200
    await asyncio.sleep(0.05)  # let the failed post run and be dropped


# -- the world's lookups follow every write --------------------------------------------------------


async def schedule_ids(api: httpx.AsyncClient, uid: int, status: str = "all") -> list[int]:
    answer = await api.get(f"/user/{uid}/lesson_schedule", params={"status": status, "maxResults": 1000})
    return [s["id"] for s in answer.json()["results"]]


async def test_a_users_schedules_follow_scheduling_completing_and_direct_changes(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    state = state_of(sandbox)
    uid = sorted(state.users)[5]
    version = active_version(state, uid)
    [made] = (await api.post(f"/user/{uid}/lesson_schedule", json={"lessonVersionIds": [version]})).json()[
        "ids"
    ]
    assert await schedule_ids(api, uid) == sorted(s.id for s in state.schedules.values() if s.user_id == uid)
    assert made in await schedule_ids(api, uid, "due")
    again = await api.post(f"/user/{uid}/lesson_schedule", json={"lessonVersionIds": [version]})
    assert again.status_code == 409  # the new schedule is found as the open one

    lesson_id = state.schedules[made].lesson_id
    completed = await api.post(f"/lesson_schedule/{uid}/complete_lesson", json={"lessonId": lesson_id})
    assert completed.json()["ids"] == [made] and made in await schedule_ids(api, uid, "completed")
    assert made not in await schedule_ids(api, uid, "due")

    # Tests (and the gateway's) change the world directly too: a schedule put in, then taken out.
    state.schedules[999_999] = replace(state.schedules[made], id=999_999, status="due")
    assert (await schedule_ids(api, uid))[-1] == 999_999
    assert (
        await api.post(f"/user/{uid}/lesson_schedule", json={"lessonVersionIds": [version]})
    ).status_code == 409
    del state.schedules[999_999]
    assert 999_999 not in await schedule_ids(api, uid)
    assert (
        await api.post(f"/user/{uid}/lesson_schedule", json={"lessonVersionIds": [version]})
    ).status_code == 200


async def test_registrations_follow_register_and_deregister(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    session = next(s for _, s in sorted(state.ilt_sessions.items()) if s.status_id == 1)
    version = state.lessons[session.lesson_id].lesson_version_id
    uid = next(
        uid
        for uid in sorted(state.users)
        if all(a.user_id != uid for a in state.attendees.values() if a.session_id == session.id)
        and not any(s.lesson_id == session.lesson_id for s in state.schedules.values() if s.user_id == uid)
    )
    [schedule] = (
        await api.post(f"/user/{uid}/lesson_schedule", json={"lessonVersionIds": [version]})
    ).json()["ids"]

    async def sessions_of_schedule() -> list[int]:
        answer = await api.get("/ilt_session", params={"lessonScheduleId": schedule, "maxResults": 1000})
        return [s["id"] for s in answer.json()["results"]]

    assert await sessions_of_schedule() == []
    await api.post(f"/ilt_session/{session.id}/bulk_register", json={"userIds": [uid]})
    assert await sessions_of_schedule() == [session.id]
    attendees = (await api.get(f"/ilt_session/{session.id}/attendees")).json()["results"]
    assert attendees[-1]["userId"] == uid and attendees[-1]["lessonScheduleId"] == schedule
    await api.post(f"/ilt_session/{session.id}/bulk_deregister", json={"userIds": [uid]})
    assert await sessions_of_schedule() == []
    assert uid not in [
        a["userId"] for a in (await api.get(f"/ilt_session/{session.id}/attendees")).json()["results"]
    ]


async def test_a_users_groups_follow_membership_changes(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    state = state_of(sandbox)
    uid = sorted(state.users)[3]

    async def groups_of() -> list[int]:
        return [g["id"] for g in (await api.get(f"/user/{uid}")).json()["groups"]]

    joined = next(gid for gid in sorted(state.groups) if uid not in state.groups[gid].member_ids)
    await api.post(f"/group/{joined}/add_members", json={"userIds": [uid]})
    assert joined in await groups_of()
    members = (await api.get(f"/group/{joined}/member", params={"maxResults": 1000})).json()["results"]
    assert {"id": joined} in next(m for m in members if m["id"] == uid)["groups"]
    state.groups[joined].active = False  # inactivated behind the API's back
    assert joined not in await groups_of()
    state.groups[joined].active = True
    await api.post(f"/group/{joined}/remove_members", json={"userIds": [uid]})
    assert joined not in await groups_of()
