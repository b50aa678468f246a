"""Lessons: `GET /lesson` and `GET /lessondetails`, with `lessonIds=1234,1235` for fetching many at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.damstra.common import (
    DamstraApi,
    bad_request,
    json_response,
    paged,
    query_list,
    route,
    to_int,
)
from sandbox.damstra.formats import date_offset
from sandbox.damstra.shapes import PUBLISHED, lesson_details_json, lesson_json
from sandbox.world import DamstraLessonRow


def _matching(api: DamstraApi, request: Request) -> list[DamstraLessonRow]:
    # The document copies the group search's words ("will match to group name"): q matches the lesson name.
    q = (request.query_params.get("q") or "").strip().casefold()
    ids = {to_int(raw, "lessonIds") for raw in query_list(request, "lessonIds")}
    states = set(query_list(request, "publishedStates"))
    if unknown := states - PUBLISHED.keys():
        raise bad_request(f"Unknown publishedStates: {', '.join(sorted(unknown))}")
    return [
        lesson
        for lesson in api.state.lessons.sorted_values()
        if (not q or q in lesson.name.casefold())
        and (not ids or lesson.lesson_id in ids)
        and (not states or lesson.status in states)
    ]


def _listing(
    api: DamstraApi, request: Request, render: Callable[[DamstraLessonRow], dict[str, Any]]
) -> dict[str, Any]:
    return paged(_matching(api, request), request, render)


async def list_lessons(api: DamstraApi, request: Request) -> Response:
    return json_response(_listing(api, request, lesson_json))


async def list_lesson_details(api: DamstraApi, request: Request) -> Response:
    body = _listing(api, request, lesson_details_json)
    # The documented details listing wraps itself in stray `id: "null"` and date keys, in meta and at the top.
    stamp = date_offset(api.now())
    body["meta"].update({"id": "null", "createdDate": stamp, "modifiedDate": stamp})
    body.update({"createdDate": stamp, "modifiedDate": stamp, "id": "null"})
    return json_response(body)


def routes(api: DamstraApi) -> list[Route]:
    return [
        route("/lesson", list_lessons, api),
        route("/lessondetails", list_lesson_details, api),
    ]
