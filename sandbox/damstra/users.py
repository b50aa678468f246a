"""Users: search, get, create, update, bulk import, (in)activate, magic login links."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.damstra import webhooks
from sandbox.damstra.common import (
    DamstraApi,
    bad_request,
    body_object,
    conflict,
    empty_response,
    field_id_objects,
    field_int,
    field_ints,
    field_str,
    json_response,
    method_not_allowed,
    page_window,
    paged,
    path_id,
    query_int,
    route,
)
from sandbox.damstra.formats import date_millis_z
from sandbox.damstra.shapes import Memberships, user_json
from sandbox.world import ROLE_TRAINEE, STATUS_ACTIVE, STATUS_NOT_CURRENT, DamstraUserRow

ACTIVE_VALUES = {"active": (STATUS_ACTIVE,), "inactive": (STATUS_NOT_CURRENT,), "all": None}
EXPIRES_IN = ("disabled", "never", "day", "week", "month", "year")
MERGE_TYPES = {"none", "empNo", "email", "userName"}
TEXT_FIELDS = {
    "userName": "user_name",
    "firstName": "first_name",
    "lastName": "last_name",
    "emailAddress": "email_address",
    "phoneNumber": "phone_number",
    "mobileNumber": "mobile_number",
    "employeeNumber": "employee_number",
    "timeZone": "time_zone",
}


def _matching(users: list[DamstraUserRow], request: Request) -> list[DamstraUserRow]:
    """The users every filter keeps, one filter at a time. A bad `roleId` or `activeValue` is refused
    only once some user reaches its check, as when the filters ran user by user."""
    params = request.query_params
    if q := (params.get("q") or "").strip().casefold():
        users = [
            u
            for u in users
            if any(
                q in text.casefold()
                for text in (u.user_name, u.first_name, u.last_name, f"{u.first_name} {u.last_name}")
            )
        ]
    if emp := params.get("empId"):
        users = [u for u in users if u.employee_number == emp]
    # "An exact match", but email addresses are compared as people write them: case-insensitively.
    if email := params.get("emailAddress"):
        users = [u for u in users if u.email_address.casefold() == email.casefold()]
    if users and (role := query_int(request, "roleId")) is not None:
        users = [u for u in users if role in u.roles]
    if users:
        active = params.get("activeValue") or "active"
        if active not in ACTIVE_VALUES:
            raise bad_request("activeValue must be one of active, inactive, all")
        if (statuses := ACTIVE_VALUES[active]) is not None:
            users = [u for u in users if u.client_status_id in statuses]
    return users


async def list_users(api: DamstraApi, request: Request) -> Response:
    found = _matching(api.state.users.sorted_values(), request)
    start, size = page_window(request)
    memberships = Memberships.of(api.state, found[start : start + size])
    return json_response(paged(found, request, lambda u: user_json(u, memberships)))


async def get_user(api: DamstraApi, request: Request) -> Response:
    user = api.user(path_id(request, "userId"))
    return json_response(user_json(user, Memberships.of(api.state, [user])))


# -- writes -------------------------------------------------------------------------------------


def _check_roles(body: dict[str, Any]) -> list[int] | None:
    return field_ints(body, "roles") if body.get("roles") is not None else None


def _check_groups(api: DamstraApi, body: dict[str, Any]) -> tuple[list[int] | None, list[int] | None]:
    groups = field_id_objects(body, "groups")
    supervised = field_id_objects(body, "groupsSupervised")
    for gid in (groups or []) + (supervised or []):
        api.group(gid)  # 842 for an unknown group, before anything changes
    return groups, supervised


def _check_unique_name(api: DamstraApi, user_name: str | None, user_id: int | None = None) -> None:
    if user_name is None:
        return
    taken = next(
        (u for u in api.state.users.values() if u.user_name.casefold() == user_name.casefold()), None
    )
    if taken is not None and taken.id != user_id:
        raise conflict(f"User name {user_name} is already taken", "Duplicate user name")


def _place_in_groups(
    api: DamstraApi, user_id: int, groups: list[int] | None, supervised: list[int] | None
) -> None:
    """Replace the user's memberships with the ones given (a list left out stays as it is)."""
    for wanted, attr in ((groups, "member_ids"), (supervised, "supervisor_ids")):
        if wanted is None:
            continue
        for group in api.state.groups.values():
            ids: list[int] = getattr(group, attr)
            if group.id in wanted and user_id not in ids:
                ids.append(user_id)
            elif group.id not in wanted and user_id in ids and group.active:
                ids.remove(user_id)


def _generated_user_name(api: DamstraApi, first_name: str, last_name: str) -> str:
    """A user name for a user given none (the document: "automatically generated"): first.last, numbered."""
    base = re.sub(r"[^a-z0-9.]", "", f"{first_name}.{last_name}".casefold()) or "user"
    taken = {u.user_name.casefold() for u in api.state.users.values()}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}{n}"
    return name


def _new_user(api: DamstraApi, body: dict[str, Any], roles: list[int] | None) -> DamstraUserRow:
    now = api.now()
    first_name = field_str(body, "firstName", required=True) or ""
    last_name = field_str(body, "lastName", required=True) or ""
    user = DamstraUserRow(
        id=api.state.new_id(),
        user_name=field_str(body, "userName") or _generated_user_name(api, first_name, last_name),
        first_name=first_name,
        last_name=last_name,
        email_address=field_str(body, "emailAddress") or "",
        phone_number=field_str(body, "phoneNumber") or "",
        mobile_number=field_str(body, "mobileNumber") or "",
        employee_number=field_str(body, "employeeNumber") or "",
        client_status_id=STATUS_ACTIVE,
        roles=roles or [ROLE_TRAINEE],
        time_zone=field_str(body, "timeZone") or "Australia/Perth",
        created=now,
        modified=now,
    )
    api.state.users[user.id] = user
    return user


def _apply(api: DamstraApi, user: DamstraUserRow, body: dict[str, Any], roles: list[int] | None) -> None:
    for key, attr in TEXT_FIELDS.items():
        value = field_str(body, key)
        if value is not None:
            setattr(user, attr, value)
    if roles is not None:
        user.roles = roles
    user.modified = api.now()


async def create_user(api: DamstraApi, request: Request) -> Response:
    body = await body_object(request)
    if body.get("id") is not None:
        # Updates go to the user's own URL (`update_user`); an id here would silently make a second user.
        raise bad_request("A new user takes no id: update a user at /user/{userId}", "Unexpected id")
    # The API document: "userName (Optional) ... automatically generated if none is supplied".
    for key in ("firstName", "lastName"):
        field_str(body, key, required=True)
    roles = _check_roles(body)
    groups, supervised = _check_groups(api, body)
    _check_unique_name(api, field_str(body, "userName"))
    user = _new_user(api, body, roles)
    _place_in_groups(api, user.id, groups, supervised)
    api.webhooks.fire(webhooks.user_created(user, api.now()))
    return json_response(
        {
            "id": user.id,
            "createdDate": date_millis_z(user.created),
            "modifiedDate": date_millis_z(user.modified),
        }
    )


async def update_user(api: DamstraApi, request: Request) -> Response:
    # The API document gives Update User no verb: the sandbox takes only the one it is set to
    # (`controls.update_user_method`, POST unless told), so a connector sending the other is caught.
    if request.method != api.controls.update_user_method:
        raise method_not_allowed(request, [api.controls.update_user_method])
    user = api.user(path_id(request, "userId"))
    body = await body_object(request)
    if (given := field_int(body, "id")) is not None and given != user.id:
        raise bad_request(f"The body's id {given} is not the user {user.id} of the path", "Mismatched id")
    return await _update(api, user, body)


async def _update(api: DamstraApi, user: DamstraUserRow, body: dict[str, Any]) -> Response:
    roles = _check_roles(body)
    groups, supervised = _check_groups(api, body)
    _check_unique_name(api, field_str(body, "userName"), user.id)
    _apply(api, user, body, roles)
    _place_in_groups(api, user.id, groups, supervised)
    api.webhooks.fire(webhooks.user_updated(user, api.api_user_id, api.now()))
    return json_response(user_json(user, Memberships.of(api.state, [user])))


def _merge_target(api: DamstraApi, merge: str, entry: dict[str, Any]) -> DamstraUserRow | None:
    key = {"empNo": "employeeNumber", "email": "emailAddress", "userName": "userName"}.get(merge)
    wanted = field_str(entry, key) if key else None
    if not wanted:
        return None
    for user in sorted(api.state.users.values(), key=lambda u: u.id):
        have = {"empNo": user.employee_number, "email": user.email_address, "userName": user.user_name}[merge]
        if have.casefold() == wanted.casefold():
            return user
    return None


async def bulk_import(api: DamstraApi, request: Request) -> Response:
    body = await body_object(request)
    merge = field_str(body, "mergeType") or "none"
    if merge not in MERGE_TYPES:
        raise bad_request("mergeType must be one of none, empNo, email, userName")
    entries = body.get("users")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise bad_request("users must be a list of users", "Missing field")
    # Check every entry before changing anything, so a bad entry leaves the import undone.
    plan: list[tuple[dict[str, Any], DamstraUserRow | None, list[int] | None]] = []
    for entry in entries:
        target = _merge_target(api, merge, entry)
        if target is None:
            for key in ("firstName", "lastName"):
                field_str(entry, key, required=True)
        _check_unique_name(api, field_str(entry, "userName"), target.id if target else None)
        # "If none is specified it will reset role to trainee" - on a merge too.
        plan.append((entry, target, _check_roles(entry) or [ROLE_TRAINEE]))
    done: list[DamstraUserRow] = []
    events = []
    for entry, target, roles in plan:
        if target is None:
            target = _new_user(api, entry, roles)
            events.append(webhooks.user_created(target, api.now()))
        else:
            _apply(api, target, entry, roles)
            events.append(webhooks.user_updated(target, api.api_user_id, api.now()))
        done.append(target)
    api.webhooks.fire(*events)
    memberships = Memberships.of(api.state, done)
    return json_response([user_json(u, memberships) for u in done])


async def activate_user(api: DamstraApi, request: Request) -> Response:
    user = api.user(path_id(request, "userId"))
    if user.client_status_id != STATUS_ACTIVE:
        user.client_status_id, user.modified = STATUS_ACTIVE, api.now()
        api.webhooks.fire(webhooks.user_updated(user, api.api_user_id, api.now()))
    return empty_response()


async def inactivate_user(api: DamstraApi, request: Request) -> Response:
    user = api.user(path_id(request, "userId"))
    if user.client_status_id != STATUS_NOT_CURRENT:
        user.client_status_id, user.modified = STATUS_NOT_CURRENT, api.now()
        api.webhooks.fire(webhooks.user_inactivated(user, api.now()))
    return empty_response()


async def generate_login_url(api: DamstraApi, request: Request) -> Response:
    user = api.user(path_id(request, "userId"))
    expires = request.query_params.get("expiresIn")
    if expires not in EXPIRES_IN:
        raise bad_request(f"expiresIn must be one of {', '.join(EXPIRES_IN)}")
    if expires == "disabled":
        return Response(b"", media_type="application/json")  # the user's magic links are switched off
    token = hashlib.sha256(f"{user.id}:{expires}:{api.now().isoformat()}".encode()).hexdigest()[:40]
    # The document answers the bare URL (`touch_token_url`), not a JSON document, despite its content type.
    url = f"https://app.velpic.com/#touch/{token}?expiresIn={expires}"
    return Response(url.encode(), media_type="application/json")


def routes(api: DamstraApi) -> list[Route]:
    return [
        route("/user", list_users, api),
        route("/user/", list_users, api),  # the API document's own example asks for `/user/?roleId=3`
        route("/user", create_user, api, ["POST"]),
        route("/user/{userId}", get_user, api),
        route("/user/{userId}", update_user, api, ["POST", "PUT"]),
        route("/bulkUserImport", bulk_import, api, ["POST"]),
        route("/user/{userId}/activate", activate_user, api, ["POST"]),
        route("/user/{userId}/inactivate", inactivate_user, api, ["POST"]),
        route("/user/{userId}/generate_login_url", generate_login_url, api, ["POST"]),
    ]
