"""`GET /certificates/{scheduleId}`: a passed DAMSTRA schedule's PDF, passed through byte for byte; a
clear 4xx for anything else; the caller's access rules as for any read."""

from __future__ import annotations

import httpx

from gateway.data.callers import Caller, PersonRef, Role
from gateway.sources import Source
from sandbox.server import CREDENTIALS, MOUNTS
from sandbox.world import DamstraScheduleRow, World
from tests.conftest import IN_PROCESS, Gateway
from tests.ids import gid

TRAINEE = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("bea.walker27@example.com"))  # user 10027


def _schedules(world: World, **wanted: object) -> list[DamstraScheduleRow]:
    return [
        s
        for _, s in sorted(world.damstra.schedules.items())
        if all(getattr(s, key) == value for key, value in wanted.items())
    ]


async def _upstream_certificate(gateway: Gateway, schedule_id: int) -> httpx.Response:
    transport = httpx.ASGITransport(app=gateway.sandbox.asgi_app())
    headers = {"AccessKey": CREDENTIALS[Source.DAMSTRA]}
    async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS, headers=headers) as upstream:
        return await upstream.get(f"{MOUNTS[Source.DAMSTRA]}/lesson_schedule/{schedule_id}/certificate")


async def test_the_certificate_url_of_a_passed_schedule_answers_the_upstreams_pdf(gateway: Gateway) -> None:
    passed = _schedules(gateway.sandbox.world, status="completed", passed=True)[0]
    query = "query($id: ID!) { schedule(id: $id) { certificateUrl } }"
    url = (await gateway.data(query, {"id": gid(f"Schedule:damstra:{passed.id}")}))["schedule"][
        "certificateUrl"
    ]
    assert url == f"/certificates/{passed.id}"
    gateway.clear_logs()
    response = await gateway.http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert gateway.log(Source.DAMSTRA).paths()[-1] == f"GET /lesson_schedule/{passed.id}/certificate"
    upstream = await _upstream_certificate(gateway, passed.id)
    assert upstream.status_code == 200 and upstream.content.startswith(b"%PDF-")
    assert response.content == upstream.content


async def test_no_certificate_is_a_404_with_its_reason(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    failed = _schedules(world, status="completed", passed=False)[0]
    due = _schedules(world, status="due")[0]
    for schedule_id in (failed.id, due.id, 1):  # not passed, not completed, no such schedule
        response = await gateway.http.get(f"/certificates/{schedule_id}")
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json()["code"] == "NOT_FOUND" and response.json()["error"]
    query = "query($id: ID!) { schedule(id: $id) { passed certificateUrl } }"
    data = await gateway.data(query, {"id": gid(f"Schedule:damstra:{failed.id}")})
    assert data["schedule"] == {"passed": False, "certificateUrl": None}


async def test_a_malformed_schedule_id_is_a_400(gateway: Gateway) -> None:
    gateway.clear_logs()
    response = await gateway.http.get("/certificates/12ab")
    assert response.status_code == 400 and response.json()["code"] == "INVALID_ID"
    assert not gateway.log(Source.DAMSTRA).entries


async def test_a_trainee_has_their_own_certificates_and_nobody_elses(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    other = next(s for s in _schedules(world, status="completed", passed=True) if s.user_id != 10027)
    mine = _schedules(world, user_id=10027)[0]
    async with gateway.as_caller(TRAINEE) as trainee:
        gateway.clear_logs()
        refused = await trainee.http.get(f"/certificates/{other.id}")
        assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
        # Refused after reading whose schedule it is, before asking for the PDF.
        assert not gateway.log(Source.DAMSTRA).count("GET", f"/lesson_schedule/{other.id}/certificate")
        own = await trainee.http.get(f"/certificates/{mine.id}")
    has_one = mine.status == "completed" and mine.passed
    assert own.status_code == (200 if has_one else 404)
