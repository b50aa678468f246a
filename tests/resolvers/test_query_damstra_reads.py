"""The DAMSTRA reads its API document offers beyond the first cut: a user's phone numbers and dates,
`users(role:, active:)`, a lesson's details (`GET /lessondetails`), `Schedule.passed` and
`certificateUrl`, the player for every lesson type, and `iltSessions(scheduleId:)`. Checked against the
sandbox world, with the requests each costs counted."""

from __future__ import annotations

from urllib.parse import parse_qs

from gateway.data.callers import Caller, PersonRef, Role
from gateway.sources import Source
from sandbox.world import STATUS_ACTIVE, DamstraScheduleRow, World
from tests.conftest import Gateway
from tests.ids import damstra_user_id, gid
from tests.resolvers.graph_support import iso, walk

USERS = """query($first: Int, $after: String, $role: Role, $active: Boolean, $includeInactive: Boolean) {
  users(first: $first, after: $after, role: $role, active: $active, includeInactive: $includeInactive) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id roles active } } } }"""
SCHEDULE = """query($id: ID!) { schedule(id: $id) { status passed certificateUrl } }"""
TRAINEE = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("bea.walker27@example.com"))  # user 10027
SUPERVISOR = Caller("supervisor-token", Role.SUPERVISOR, PersonRef.parse("damstra:10000"))


def passed_in_world(world: World, schedule: DamstraScheduleRow) -> bool | None:
    return schedule.passed if schedule.status == "completed" else None


# -- users ------------------------------------------------------------------------------------------


async def test_a_user_carries_phone_mobile_and_the_documents_dates(gateway: Gateway) -> None:
    row = gateway.sandbox.world.damstra.users[10003]
    query = """query($id: ID!) { user(id: $id) { phone mobile lastLoggedInAt createdAt } }"""
    data = await gateway.data(query, {"id": damstra_user_id(row.id)})
    assert row.last_logged_in is not None
    assert data["user"] == {
        "phone": row.phone_number,
        "mobile": row.mobile_number,
        # DAMSTRA writes these `2015-10-29T15:28:59+0000`: to the second.
        "lastLoggedInAt": iso(row.last_logged_in.replace(microsecond=0)),
        "createdAt": iso(row.created.replace(microsecond=0)),
    }


async def test_phone_written_by_update_user_reads_back(gateway: Gateway) -> None:
    mutation = """mutation($id: ID!) { updateUser(input: {userId: $id, phoneNumber: "0899990000",
        mobileNumber: "0400111222"}) { user { phone mobile } userErrors { code } } }"""
    data = await gateway.data(mutation, {"id": damstra_user_id(10004)})
    assert data["updateUser"] == {
        "user": {"phone": "0899990000", "mobile": "0400111222"},
        "userErrors": [],
    }


async def test_users_by_role_send_the_documents_role_id_and_list_only_that_role(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    trainees = {
        u.id for u in world.damstra.users.values() if 6 in u.roles and u.client_status_id == STATUS_ACTIVE
    }
    assert trainees
    gateway.clear_logs()
    nodes, pages = await walk(gateway, USERS, {"first": 100, "role": "TRAINEE"}, "users")
    assert {n["id"] for n in nodes} == {damstra_user_id(i) for i in trainees}
    assert all("TRAINEE" in n["roles"] for n in nodes)
    # One listing a page, filtered upstream; nobody only the identity file knows (they have no role).
    asked = gateway.log(Source.DAMSTRA).entries
    assert len(asked) == pages
    assert all(e.path == "/user" and parse_qs(e.query)["roleId"] == ["6"] for e in asked)


async def test_active_overrides_include_inactive(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    inactive = {u.id for u in world.damstra.users.values() if u.client_status_id != STATUS_ACTIVE}
    active = set(world.damstra.users) - inactive
    assert inactive and active
    nodes, _ = await walk(gateway, USERS, {"first": 100, "active": False, "includeInactive": False}, "users")
    assert {n["id"] for n in nodes} == {damstra_user_id(i) for i in inactive}
    assert all(n["active"] is False for n in nodes)
    gateway.clear_logs()
    nodes, _ = await walk(gateway, USERS, {"first": 100, "active": True, "includeInactive": True}, "users")
    assert {n["id"] for n in nodes} == {damstra_user_id(i) for i in active}
    assert {parse_qs(e.query)["activeValue"][0] for e in gateway.log(Source.DAMSTRA).entries} == {"active"}


async def test_role_and_active_filter_what_a_supervisor_sees_without_reading_damstra_again(
    gateway: Gateway,
) -> None:
    async with gateway.as_caller(SUPERVISOR) as supervisor:
        everyone, _ = await walk(supervisor, USERS, {"first": 100, "includeInactive": True}, "users")
        gateway.clear_logs()
        trainees, _ = await walk(supervisor, USERS, {"first": 100, "role": "TRAINEE"}, "users")
        assert not gateway.log(Source.DAMSTRA).count("GET", "/user?")  # answered from the visible set
        inactive, _ = await walk(supervisor, USERS, {"first": 100, "active": False}, "users")
    world = gateway.sandbox.world
    seen = {n["id"] for n in everyone}
    assert {n["id"] for n in trainees} == {
        damstra_user_id(u.id)
        for u in world.damstra.users.values()
        if damstra_user_id(u.id) in seen and 6 in u.roles and u.client_status_id == STATUS_ACTIVE
    }
    assert trainees and len(trainees) < len(everyone)
    assert {n["id"] for n in inactive} == {
        damstra_user_id(u.id)
        for u in world.damstra.users.values()
        if damstra_user_id(u.id) in seen and u.client_status_id != STATUS_ACTIVE
    }


# -- lessons ----------------------------------------------------------------------------------------


async def test_a_lessons_details_come_from_lessondetails(gateway: Gateway) -> None:
    lesson = gateway.sandbox.world.damstra.lessons[1001]
    query = """query($id: ID!) { lesson(id: $id) { inLibrary questionnaireType questionCount passRate
        thumbnailUrl customFields { name value } } }"""
    data = await gateway.data(query, {"id": gid(f"Lesson:damstra:{lesson.lesson_id}")})
    assert data["lesson"] == {
        "inLibrary": lesson.lesson_id % 6 == 5,
        "questionnaireType": 18,
        "questionCount": lesson.question_count,
        "passRate": float(lesson.pass_rate),
        "thumbnailUrl": f"https://app.velpic.com/downloads/lessons/{lesson.lesson_version_id}/thumbnail.png",
        "customFields": [
            {"name": description, "value": value} for _, description, value in lesson.custom_fields
        ],
    }
    assert len(lesson.custom_fields) == 2


async def test_a_catalogue_pages_details_cost_one_lessondetails_request(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    query = """{ lessons(first: 20, source: DAMSTRA) { edges { node { nativeId questionCount passRate
        thumbnailUrl } } } }"""
    gateway.clear_logs()
    data = await gateway.data(query)
    nodes = [edge["node"] for edge in data["lessons"]["edges"]]
    assert len(nodes) == 20
    for node in nodes:
        row = world.damstra.lessons[int(node["nativeId"])]
        assert (node["questionCount"], node["passRate"]) == (row.question_count, row.pass_rate)
    damstra = gateway.log(Source.DAMSTRA)
    assert damstra.count("GET", "/lesson") == 2  # the page, then every detail in one batch
    (details,) = [e for e in damstra.entries if e.path == "/lessondetails"]
    assert parse_qs(details.query)["lessonIds"] == [",".join(n["nativeId"] for n in nodes)]


async def test_lessons_without_details_fields_cost_no_details_request(gateway: Gateway) -> None:
    gateway.clear_logs()
    await gateway.data("{ lessons(first: 20, source: DAMSTRA) { edges { node { id name inLibrary } } } }")
    assert gateway.log(Source.DAMSTRA).paths() == [
        "GET /lesson?startIndex=0&maxResults=20&publishedStates=active%2Cinactive%2Cnever%2Crendering%2Cerror"
    ]


async def test_details_of_the_lessons_of_a_persons_schedules_are_one_batch(gateway: Gateway) -> None:
    query = """query($id: ID!) { user(id: $id) { schedules(source: DAMSTRA) { edges { node {
        lesson { questionCount thumbnailUrl } } } } } }"""
    gateway.clear_logs()
    data = await gateway.data(query, {"id": damstra_user_id(10027)})
    lessons = [e["node"]["lesson"] for e in data["user"]["schedules"]["edges"]]
    assert len(lessons) >= 2 and all(lesson["questionCount"] is not None for lesson in lessons)
    assert gateway.log(Source.DAMSTRA).count("GET", "/lessondetails") == 1


# -- schedules --------------------------------------------------------------------------------------


def _completed(world: World, *, passed: bool, questions: bool) -> DamstraScheduleRow:
    return next(
        s
        for _, s in sorted(world.damstra.schedules.items())
        if s.status == "completed"
        and s.passed is passed
        and (world.damstra.lessons[s.lesson_id].question_count > 0) is questions
    )


async def test_passed_and_certificate_url_follow_the_question_results(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    cases = {
        "passed": _completed(world, passed=True, questions=True),
        "failed": _completed(world, passed=False, questions=True),
        "no questions": _completed(world, passed=True, questions=False),
        "due": next(s for _, s in sorted(world.damstra.schedules.items()) if s.status == "due"),
    }
    for name, row in cases.items():
        data = await gateway.data(SCHEDULE, {"id": gid(f"Schedule:damstra:{row.id}")})
        passed = passed_in_world(world, row)
        assert data["schedule"] == {
            "status": data["schedule"]["status"],
            "passed": passed,
            "certificateUrl": f"/certificates/{row.id}" if passed else None,
        }, name
    assert cases["failed"].passed is False


async def test_passed_on_a_persons_list_reads_only_the_completed_schedules_with_questions(
    gateway: Gateway,
) -> None:
    world = gateway.sandbox.world
    user = next(
        uid
        for uid in sorted(world.damstra.users)
        if any(s.status == "completed" and not s.passed for s in world.damstra.schedules_of(uid))
        and any(s.status != "completed" for s in world.damstra.schedules_of(uid))
    )
    rows = world.damstra.schedules_of(user)
    query = """query($id: ID!) { user(id: $id) { schedules(source: DAMSTRA) { edges { node { id passed
        certificateUrl } } } } }"""
    gateway.clear_logs()
    data = await gateway.data(query, {"id": damstra_user_id(user)})
    got = {
        e["node"]["id"]: (e["node"]["passed"], e["node"]["certificateUrl"])
        for e in data["user"]["schedules"]["edges"]
    }
    assert got == {
        gid(f"Schedule:damstra:{s.id}"): (
            passed_in_world(world, s),
            f"/certificates/{s.id}" if passed_in_world(world, s) else None,
        )
        for s in rows
    }
    needing = [
        s for s in rows if s.status == "completed" and world.damstra.lessons[s.lesson_id].question_count > 0
    ]
    # One read of each such schedule (shared by passed and certificateUrl), none of the others.
    assert gateway.log(Source.DAMSTRA).count("GET", "/lesson_schedule/") == len(needing)
    gateway.clear_logs()
    await gateway.data(
        """query($id: ID!) { user(id: $id) { schedules(source: DAMSTRA) { edges { node { id status } } } } }""",
        {"id": damstra_user_id(user)},
    )
    assert gateway.log(Source.DAMSTRA).count("GET", "/lesson_schedule/") == 0


async def test_embed_url_comes_from_the_player_for_every_lesson_type(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    due = next(s for _, s in sorted(world.damstra.schedules.items()) if s.status == "due")
    done = next(s for _, s in sorted(world.damstra.schedules.items()) if s.status == "completed")
    query = """query($due: ID!, $done: ID!) { due: schedule(id: $due) { embedUrl }
        done: schedule(id: $done) { embedUrl } }"""
    gateway.clear_logs()
    data = await gateway.data(
        query, {"due": gid(f"Schedule:damstra:{due.id}"), "done": gid(f"Schedule:damstra:{done.id}")}
    )
    url = data["due"]["embedUrl"]
    assert url.startswith(f"https://app.velpic.com/#player/{due.id}?embed=true&token=")
    assert data["done"]["embedUrl"] is None  # a completed schedule has no player: not asked
    players = [p for p in gateway.log(Source.DAMSTRA).paths() if "embed_player" in p]
    assert players == [f"GET /embed_player/version/{due.id}"]


async def test_a_trainee_gets_their_own_schedules_passed_and_not_anothers(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    mine = next(iter(world.damstra.schedules_of(10027)))
    other = next(iter(world.damstra.schedules_of(10013)))
    async with gateway.as_caller(TRAINEE) as trainee:
        data = await trainee.data(SCHEDULE, {"id": gid(f"Schedule:damstra:{mine.id}")})
        assert data["schedule"]["passed"] is passed_in_world(world, mine)
        body = await trainee.query(SCHEDULE, {"id": gid(f"Schedule:damstra:{other.id}")})
    assert body["data"]["schedule"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# -- ILT sessions -----------------------------------------------------------------------------------

SESSIONS = """query($scheduleId: ID) { iltSessions(first: 10, scheduleId: $scheduleId) {
  edges { node { id } } } }"""


async def test_ilt_sessions_by_schedule_send_the_documents_filter_once(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    attendee = next(a for _, a in sorted(world.damstra.attendees.items()))
    gateway.clear_logs()
    data = await gateway.data(
        SESSIONS, {"scheduleId": gid(f"Schedule:damstra:{attendee.lesson_schedule_id}")}
    )
    assert [e["node"]["id"] for e in data["iltSessions"]["edges"]] == [
        gid(f"ILTSession:damstra:{attendee.session_id}")
    ]
    (asked,) = gateway.log(Source.DAMSTRA).entries
    assert asked.path == "/ilt_session"
    assert parse_qs(asked.query)["lessonScheduleId"] == [str(attendee.lesson_schedule_id)]


async def test_ilt_sessions_by_a_schedule_of_another_source_or_malformed(gateway: Gateway) -> None:
    data = await gateway.data(SESSIONS, {"scheduleId": gid("Schedule:learninglogin:5")})
    assert data["iltSessions"]["edges"] == []
    body = await gateway.query(SESSIONS, {"scheduleId": gid("Schedule:damstra:abc")})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"
    body = await gateway.query(SESSIONS, {"scheduleId": gid("Lesson:damstra:1001")})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_a_trainee_may_not_look_up_sessions_by_anothers_schedule(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    theirs = next(a for _, a in sorted(world.damstra.attendees.items()) if a.user_id not in (10027,))
    async with gateway.as_caller(TRAINEE) as trainee:
        body = await trainee.query(
            SESSIONS, {"scheduleId": gid(f"Schedule:damstra:{theirs.lesson_schedule_id}")}
        )
    assert body["data"]["iltSessions"]["edges"] == []
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Beside a lesson (the whole list read and filtered here), the same rule.
    lesson = gateway.sandbox.world.damstra.ilt_sessions[theirs.session_id].lesson_id
    query = """query($scheduleId: ID, $lessonId: ID) { iltSessions(scheduleId: $scheduleId, lessonId: $lessonId) {
        edges { node { id } } } }"""
    variables = {"scheduleId": gid(f"Schedule:damstra:{theirs.lesson_schedule_id}")}
    async with gateway.as_caller(TRAINEE) as trainee:
        body = await trainee.query(query, {**variables, "lessonId": gid(f"Lesson:damstra:{lesson}")})
    assert body["data"]["iltSessions"]["edges"] == []
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    data = await gateway.data(query, {**variables, "lessonId": gid(f"Lesson:damstra:{lesson}")})
    assert data["iltSessions"]["edges"] == [{"node": {"id": gid(f"ILTSession:damstra:{theirs.session_id}")}}]
