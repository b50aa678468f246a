"""The DAMSTRA sandbox's questionnaire data: lesson details and custom fields, a completed schedule's
question results, and the certificate that only a passed schedule has."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.sources import Source
from sandbox.server import CREDENTIALS, Sandbox

BASE = "http://sandbox.test/damstra/api/v2"
KEY = {"AccessKey": CREDENTIALS[Source.DAMSTRA]}


@pytest.fixture
async def api(sandbox_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=sandbox_transport, base_url=BASE, headers=KEY) as client:
        yield client


async def test_lesson_details_carry_the_questionnaire_and_both_lists_the_custom_fields(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    lesson = sandbox.world.damstra.lessons[1001]
    details = (await api.get("/lessondetails", params={"lessonIds": "1001"})).json()["results"]
    listed = (await api.get("/lesson", params={"lessonIds": "1001"})).json()["results"]
    (item,) = details
    assert (item["questionCount"], item["questionnairePassRate"]) == (lesson.question_count, lesson.pass_rate)
    assert item["published"] == 65 and item["lessonThumbnail"].endswith("/thumbnail.png")
    for found in (item, listed[0]):
        assert [
            (f["fieldId"], f["customFieldDescription"], f["value"])
            for f in found["lessonVersionCustomFields"]
        ] == (lesson.custom_fields)


async def test_question_results_pass_exactly_when_the_schedule_passed(
    api: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    state = sandbox.world.damstra
    completed = [s for _, s in sorted(state.schedules.items()) if s.status == "completed"]
    for row in completed[:20]:
        body = (await api.get(f"/lesson_schedule/{row.id}")).json()
        results = body["questionResults"]
        lesson = state.lessons[row.lesson_id]
        assert body["questionCount"] == lesson.question_count == len(results)
        if results:
            share = 100 * sum(r["correct"] for r in results) / len(results)
            assert (share >= body["questionnairePassRate"]) is row.passed
        certificate = await api.get(f"/lesson_schedule/{row.id}/certificate")
        assert certificate.status_code == (200 if row.passed else 404)
    assert any(not s.passed for s in completed[:20]) and any(s.passed for s in completed[:20])
    due = next(s for _, s in sorted(state.schedules.items()) if s.status == "due")
    assert (await api.get(f"/lesson_schedule/{due.id}")).json()["questionResults"] == []
