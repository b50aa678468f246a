"""Groups: list, get, create, update, members and supervisors, inactivate.

An inactivated group is gone as far as the API is concerned: not listed, and 842 when asked for.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.damstra.common import (
    DamstraApi,
    bad_request,
    body_object,
    empty_response,
    field_int,
    field_ints,
    field_str,
    json_response,
    page_window,
    paged,
    path_id,
    route,
)
from sandbox.damstra.shapes import Memberships, group_json, user_json
from sandbox.world import DamstraGroupRow


async def list_groups(api: DamstraApi, request: Request) -> Response:
    q = (request.query_params.get("q") or "").strip().casefold()
    found = [g for g in api.state.groups.sorted_values() if g.active and (not q or q in g.name.casefold())]
    return json_response(paged(found, request, group_json))


async def get_group(api: DamstraApi, request: Request) -> Response:
    return json_response(group_json(api.group(path_id(request, "groupId"))))


def _parent(api: DamstraApi, body: dict[str, Any], group_id: int | None) -> int | None:
    parent_id = field_int(body, "parentId")
    if parent_id is None:
        return None
    parent = api.group(parent_id).id
    if parent == group_id:
        raise bad_request("A group cannot be its own parent")
    return parent


async def create_group(api: DamstraApi, request: Request) -> Response:
    body = await body_object(request)
    name = field_str(body, "name", required=True) or ""
    group = DamstraGroupRow(
        id=api.state.new_id(),
        name=name,
        description=field_str(body, "description") or "",
        parent_id=_parent(api, body, None),
        created=api.now(),
    )
    api.state.groups[group.id] = group
    return json_response(group_json(group))


async def update_group(api: DamstraApi, request: Request) -> Response:
    group = api.group(path_id(request, "groupId"))
    body = await body_object(request)
    name, description = field_str(body, "name"), field_str(body, "description")
    if "parentId" in body:
        group.parent_id = _parent(api, body, group.id)
    if name:
        group.name = name
    if description is not None:
        group.description = description
    return json_response(group_json(group))


async def list_members(api: DamstraApi, request: Request) -> Response:
    group = api.group(path_id(request, "groupId"))
    return _user_page(api, request, group.member_ids)


async def list_supervisors(api: DamstraApi, request: Request) -> Response:
    group = api.group(path_id(request, "groupId"))
    return _user_page(api, request, group.supervisor_ids)


def _user_page(api: DamstraApi, request: Request, user_ids: list[int]) -> Response:
    users = [api.state.users[uid] for uid in sorted(user_ids) if uid in api.state.users]
    start, size = page_window(request)
    memberships = Memberships.of(api.state, users[start : start + size])
    return json_response(paged(users, request, lambda u: user_json(u, memberships)))


async def _requested_users(api: DamstraApi, request: Request) -> tuple[DamstraGroupRow, list[int]]:
    group = api.group(path_id(request, "groupId"))
    user_ids = field_ints(await body_object(request), "userIds")
    for uid in user_ids:
        api.user(uid)  # all or nothing: an unknown user changes no one
    return group, user_ids


def _add(ids: list[int], user_ids: list[int]) -> None:
    ids.extend(uid for uid in dict.fromkeys(user_ids) if uid not in ids)


def _remove(ids: list[int], user_ids: list[int]) -> None:
    ids[:] = [uid for uid in ids if uid not in set(user_ids)]


async def add_members(api: DamstraApi, request: Request) -> Response:
    group, user_ids = await _requested_users(api, request)
    _add(group.member_ids, user_ids)
    return empty_response()


async def remove_members(api: DamstraApi, request: Request) -> Response:
    group, user_ids = await _requested_users(api, request)
    _remove(group.member_ids, user_ids)
    return empty_response()


async def add_supervisors(api: DamstraApi, request: Request) -> Response:
    group, user_ids = await _requested_users(api, request)
    _add(group.supervisor_ids, user_ids)
    return empty_response()


async def remove_supervisors(api: DamstraApi, request: Request) -> Response:
    group, user_ids = await _requested_users(api, request)
    _remove(group.supervisor_ids, user_ids)
    return empty_response()


async def inactivate_group(api: DamstraApi, request: Request) -> Response:
    api.group(path_id(request, "groupId")).active = False
    return empty_response()


def routes(api: DamstraApi) -> list[Route]:
    return [
        route("/group", list_groups, api),
        route("/group", create_group, api, ["POST"]),
        route("/group/{groupId}", get_group, api),
        route("/group/{groupId}", update_group, api, ["POST"]),
        route("/group/{groupId}/member", list_members, api),
        route("/group/{groupId}/supervisor", list_supervisors, api),
        route("/group/{groupId}/add_members", add_members, api, ["POST"]),
        route("/group/{groupId}/remove_members", remove_members, api, ["POST"]),
        route("/group/{groupId}/add_supervisors", add_supervisors, api, ["POST"]),
        route("/group/{groupId}/remove_supervisors", remove_supervisors, api, ["POST"]),
        route("/group/{groupId}/inactivate", inactivate_group, api, ["POST"]),
    ]
