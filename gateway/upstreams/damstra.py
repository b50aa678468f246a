"""DAMSTRA (Damstra Learning, formerly Velpic) public API v2.

    client = DamstraClient.connect("https://app.velpic.com/api/v2", secret=SecretStr(key))
    page = await client.search_users(q="smith", max_results=20)
    lessons = await client.get_lessons_by_id([1234, 1235])

The key rides in the `AccessKey` header; listings page with `startIndex`/`maxResults` and answer
`{"results": [...], "meta": {"totalResultCount", ...}}`; errors are `{"message", "reason",
"internalCode", "error"}` bodies, sometimes on a 2xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import httpx
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_serializer,
)
from pydantic.alias_generators import to_camel

from gateway.dates import format_damstra_datetime
from gateway.errors import (
    UpstreamError,
    UpstreamForbidden,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
    error_for_status,
)
from gateway.native_ids import numeric_id
from gateway.sources import Source
from gateway.upstreams.connector import Connector
from gateway.upstreams.http import Auth, HeaderAuth
from gateway.upstreams.paging import Listing, PageRequest, StartIndexPaging
from gateway.upstreams.records import CamelRecord, LenientFloat, UpstreamDateTime, parse_record, parse_records

SOURCE = Source.DAMSTRA
STATUS_NOT_CURRENT = 57  # clientStatusId of a trainee no longer in the organisation
# Ids per `GET /lesson?lessonIds=...`: a dashboard's lessons in one call, in a query string of about
# 5 KB at 7-digit ids (each comma goes as %2C), under the 8 KB servers commonly accept.
LESSON_BATCH = 500
ALREADY_SCHEDULED = "ALREADY_SCHEDULED"

R = TypeVar("R", bound=BaseModel)


# -- records ------------------------------------------------------------------------------------


def _ids(value: Any) -> Any:
    # Users carry `groups: [{"id": 1}]`; some answers (and the getting-started sample's `roles`)
    # hold plain ids or objects; null means none.
    if value is None:
        return []
    if isinstance(value, list):
        return [item.get("id") if isinstance(item, dict) else item for item in value]
    return value


IdList = Annotated[list[int], BeforeValidator(_ids)]

_ILT_STATES = {1: "upcoming", 2: "inprogress", 3: "past"}


def _ilt_state(value: Any) -> Any:
    # `GET /ilt_session/{id}` names the state ("past"); list filters use its id (1, 2, 3).
    if isinstance(value, int) and not isinstance(value, bool):
        return _ILT_STATES.get(value, str(value))
    return value


class DamstraUser(CamelRecord):
    id: int
    user_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    mobile_number: str | None = None
    employee_number: str | None = None
    client_status_id: int | None = None
    active: bool | None = None
    group_ids: IdList = Field(default_factory=list, alias="groups")
    supervised_group_ids: IdList = Field(default_factory=list, alias="groupsSupervised")
    roles: IdList = Field(default_factory=list)
    time_zone: str | None = None
    client_id: int | None = None
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None
    last_logged_in_date: UpstreamDateTime = None

    @property
    def is_active(self) -> bool:
        return self.client_status_id != STATUS_NOT_CURRENT and self.active is not False


class DamstraGroup(CamelRecord):
    id: int
    name: str
    parent_id: int | None = None
    description: str | None = None
    member_count: int | None = None
    created_date: UpstreamDateTime = None
    client_id: int | None = None


class DamstraLesson(CamelRecord):
    lesson_id: int
    lesson_version_id: int
    name: str | None = None
    duration: LenientFloat = None  # milliseconds
    status: str | None = None  # active | inactive | never | rendering | error
    version: int | None = None
    in_library: bool | None = None
    client_id: int | None = None
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


class DamstraSchedule(CamelRecord):
    id: int
    user_id: int | None = None
    lesson_id: int | None = None
    lesson_version_id: int | None = None
    version: int | None = None
    lesson_name: str | None = None
    start_date: UpstreamDateTime = None
    end_date: UpstreamDateTime = None
    lesson_started_date: UpstreamDateTime = None
    lesson_completed_date: UpstreamDateTime = None
    lesson_completed_by: int | None = None
    lesson_completed_by_name: str | None = None
    status: str | None = None  # scheduled | due | overdue | completed | cancelled
    status_id: int | None = None
    schedule_type: str | None = None
    progress: LenientFloat = None  # milliseconds watched
    lesson_duration: LenientFloat = None  # milliseconds
    active: bool | None = None
    user_first_name: str | None = None
    user_last_name: str | None = None
    user_user_name: str | None = None
    user_employee_number: str | None = None
    questionnaire_pass_rate: LenientFloat = None
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


class DamstraILTSession(CamelRecord):
    id: int
    status_id: int | None = None  # 1 active, 2 completed, 3 cancelled
    instructor_id: int | None = None
    instructor_first_name: str | None = None
    instructor_last_name: str | None = None
    lesson_id: int | None = None
    lesson_name: str | None = None
    notes: str | None = None
    number_of_places: int | None = None
    number_of_attendees: int | None = None
    start_datetime: UpstreamDateTime = None
    end_datetime: UpstreamDateTime = None
    location: str | None = None
    state: Annotated[str | None, BeforeValidator(_ilt_state)] = None  # upcoming | inprogress | past
    attendance_rate: LenientFloat = None
    pass_rate: LenientFloat = None
    ilt_session_cancellation_trainee_notification_enabled: bool | None = None
    ilt_session_cancellation_instructor_notification_enabled: bool | None = None
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


class DamstraAttendee(CamelRecord):
    id: int
    user_id: int | None = None
    session_id: int | None = None
    lesson_schedule_id: int | None = None
    user_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    registering_user_id: int | None = None
    passed: bool | None = None
    attended: bool | None = None
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


class DamstraCreated(CamelRecord):
    id: int
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


# -- write inputs -------------------------------------------------------------------------------

DamstraDateTimeOut = Annotated[datetime, PlainSerializer(format_damstra_datetime, return_type=str)]
ExpiresIn = Literal["disabled", "never", "day", "week", "month", "year"]
MergeType = Literal["none", "empNo", "email", "userName"]
GracePeriodUnit = Literal["days", "months"]
ScheduleStatusFilter = Literal["all", "scheduled", "due", "overdue", "completed", "cancelled"]
ActiveValue = Literal["active", "inactive", "all"]


class _WriteInput(BaseModel):
    """A request body: snake_case in Python, camelCase on the wire; unset fields are not sent."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _id_objects(ids: list[int] | None) -> list[dict[str, int]] | None:
    return None if ids is None else [{"id": int(numeric_id(i, "DAMSTRA group id"))} for i in ids]


class DamstraUserInput(_WriteInput):
    """Fields of `POST /user`, `PUT /user/{id}` and `POST /bulkUserImport`."""

    user_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    mobile_number: str | None = None
    employee_number: str | None = None
    send_welcome_email: bool | None = None
    password: SecretStr | None = None
    roles: list[int] | None = None
    group_ids: list[int] | None = Field(default=None, serialization_alias="groups")
    supervised_group_ids: list[int] | None = Field(default=None, serialization_alias="groupsSupervised")
    time_zone: str | None = None

    @field_serializer("password")
    def _reveal(self, value: SecretStr | None) -> str | None:
        return None if value is None else value.get_secret_value()

    @field_serializer("group_ids", "supervised_group_ids")
    def _as_objects(self, value: list[int] | None) -> list[dict[str, int]] | None:
        return _id_objects(value)


class DamstraILTSessionInput(_WriteInput):
    """Fields of `POST /ilt_session` (lesson, times and location required by DAMSTRA) and
    `PATCH /ilt_session/{id}` (any subset)."""

    lesson_id: int | None = None
    start_datetime: DamstraDateTimeOut | None = None
    end_datetime: DamstraDateTimeOut | None = None
    location: str | None = None
    instructor_id: int | None = None
    status_id: int | None = None
    notes: str | None = None
    number_of_places: int | None = None


# -- errors -------------------------------------------------------------------------------------

_BY_INTERNAL_CODE: dict[int, type[UpstreamError]] = {
    806: UpstreamUnauthorized,  # AccessKey does not exist
    831: UpstreamForbidden,  # not authorised to make this request
    840: UpstreamNotFound,  # lesson schedule does not exist
    842: UpstreamNotFound,  # group not found
    836: UpstreamRejected,  # lesson schedule is cancelled
    837: UpstreamRejected,  # lesson schedule is completed
    500: UpstreamUnavailable,
}


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def decode_damstra_error(source: Source, response: httpx.Response, body: Any) -> UpstreamError | None:
    """DAMSTRA error bodies, on any status: stand-ins (and the seed's own examples) send them on 200."""
    if not isinstance(body, dict):
        return None
    internal = body.get("internalCode")
    flag = body.get("error")
    is_error = internal is not None or flag is True or _text(flag) is not None
    if not is_error and response.status_code < 400:
        return None
    message = (
        _text(body.get("message"))
        or _text(flag)
        or _text(body.get("reason"))
        or f"{source.name} answered HTTP {response.status_code}"
    )
    code = internal if isinstance(internal, int) and not isinstance(internal, bool) else None
    if "already exists" in message.lower() and "schedule" in message.lower():
        # `POST /user/{id}/lesson_schedule` answers {"error": "Lesson Schedule already exists"}.
        return UpstreamRejected(source.slug, message, upstream_code=ALREADY_SCHEDULED)
    if code in _BY_INTERNAL_CODE:
        return _BY_INTERNAL_CODE[code](source.slug, message, upstream_code=code)
    status = response.status_code
    if status < 400:
        # The 404 sample carries `"statusCode": 404` (and `"internalCode": TBD`) in its body.
        body_status = body.get("statusCode")
        if not (isinstance(body_status, int) and body_status >= 400):
            return UpstreamRejected(source.slug, message, status_code=status, upstream_code=code)
        status = body_status
    return error_for_status(source.slug, status, message, upstream_code=code)


# -- client -------------------------------------------------------------------------------------


def _present(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def _joined(values: Sequence[int | str] | None) -> str | None:
    # Array query parameters go comma-separated, as the seed's `lessonIds=1234,1235`.
    return None if values is None else ",".join(str(v) for v in values)


def _user_filters(
    q: str | None, emp_id: str | None, email: str | None, active_value: ActiveValue, role_id: int | None
) -> dict[str, Any]:
    """`GET /user`'s filters, shared by the window and the whole listing."""
    return {"q": q, "empId": emp_id, "emailAddress": email, "activeValue": active_value, "roleId": role_id}


def _ilt_filters(
    lesson_schedule_id: int | None, state: int | None, status: int | None, instructor_id: int | None
) -> dict[str, Any]:
    """`GET /ilt_session`'s filters, shared by the window and the whole listing."""
    return {
        "lessonScheduleId": lesson_schedule_id,
        "state": state,
        "status": status,
        "instructorId": instructor_id,
    }


def _user_ids(user_ids: Sequence[int]) -> list[int]:
    return [int(numeric_id(i, "DAMSTRA user id")) for i in user_ids]


class DamstraClient(Connector):
    """One method per DAMSTRA endpoint, answering typed records.

    Every id entering a path passes `numeric_id` first; reads are retried by `UpstreamHTTP`,
    writes are sent once.
    """

    source = SOURCE
    decode_error = staticmethod(decode_damstra_error)

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return HeaderAuth("AccessKey", secret)

    # -- plumbing shared by the endpoints -------------------------------------------------------

    async def _get(self, model: type[R], path: str, params: Mapping[str, Any] | None = None) -> R:
        return parse_record(SOURCE, model, await self.http.get_json(path, _present(params or {})))

    async def _window(
        self, model: type[R], path: str, params: Mapping[str, Any], start_index: int, max_results: int
    ) -> Listing[R]:
        paging = StartIndexPaging(page_size=max_results, start_index=start_index)
        window = await self.http.fetch_window(paging, PageRequest(path, _present(params)), max_results)
        return Listing(parse_records(SOURCE, model, window.items), window.total)

    async def _iterate(
        self, model: type[R], path: str, params: Mapping[str, Any], page_size: int
    ) -> AsyncIterator[R]:
        # Read whole (every caller wants every item): where `meta` tells the total, the pages after
        # the first are read at once.
        paging = StartIndexPaging(page_size=page_size)
        for record in parse_records(
            SOURCE, model, await self.http.collect(paging, PageRequest(path, _present(params)))
        ):
            yield record

    async def _write(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        _, body = await self.http.write(method, path, params=_present(params or {}) or None, json=json)
        return body

    # -- users ----------------------------------------------------------------------------------

    async def search_users(
        self,
        *,
        q: str | None = None,
        emp_id: str | None = None,
        email: str | None = None,
        active_value: ActiveValue = "active",
        role_id: int | None = None,
        start_index: int = 0,
        max_results: int = 100,
    ) -> Listing[DamstraUser]:
        params = _user_filters(q, emp_id, email, active_value, role_id)
        return await self._window(DamstraUser, "user", params, start_index, max_results)

    def iter_users(
        self,
        *,
        q: str | None = None,
        emp_id: str | None = None,
        email: str | None = None,
        active_value: ActiveValue = "active",
        role_id: int | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[DamstraUser]:
        params = _user_filters(q, emp_id, email, active_value, role_id)
        return self._iterate(DamstraUser, "user", params, page_size)

    async def get_user(self, user_id: int | str) -> DamstraUser:
        return await self._get(DamstraUser, f"user/{numeric_id(user_id, 'DAMSTRA user id')}")

    async def create_user(self, fields: DamstraUserInput) -> DamstraCreated:
        return parse_record(SOURCE, DamstraCreated, await self._write("POST", "user", fields.to_body()))

    async def update_user(self, user_id: int | str, fields: DamstraUserInput) -> DamstraUser:
        # The seed shows the body with no method or path; PUT on the user's own URL is the REST
        # reading (the body repeats the id, as the seed's example does).
        uid = numeric_id(user_id, "DAMSTRA user id")
        body = {"id": int(uid), **fields.to_body()}
        return parse_record(SOURCE, DamstraUser, await self._write("PUT", f"user/{uid}", body))

    async def bulk_import_users(
        self, users: Sequence[DamstraUserInput], merge_type: MergeType = "none"
    ) -> list[DamstraUser]:
        body = {"users": [user.to_body() for user in users], "mergeType": merge_type}
        return parse_records(SOURCE, DamstraUser, await self._write("POST", "bulkUserImport", body))

    async def activate_user(self, user_id: int | str) -> None:
        await self._write("POST", f"user/{numeric_id(user_id, 'DAMSTRA user id')}/activate")

    async def inactivate_user(self, user_id: int | str) -> None:
        await self._write("POST", f"user/{numeric_id(user_id, 'DAMSTRA user id')}/inactivate")

    async def generate_login_url(self, user_id: int | str, expires_in: ExpiresIn = "day") -> str:
        path = f"user/{numeric_id(user_id, 'DAMSTRA user id')}/generate_login_url"
        response, body = await self.http.write("POST", path, params={"expiresIn": expires_in})
        # The seed shows the body as the bare `touch_token_url`: a JSON string or plain text.
        if isinstance(body, dict):
            body = body.get("url") or body.get("loginUrl") or body.get("touchTokenUrl")
        url = body if isinstance(body, str) else (response.text.strip() if body is None else "")
        # `disabled` switches the user's magic links off: there is no URL to answer.
        if not url and expires_in != "disabled":
            raise UpstreamMalformedResponse(SOURCE.slug, "generate_login_url answered no URL")
        return url

    # -- groups ---------------------------------------------------------------------------------

    async def list_groups(
        self, *, q: str | None = None, start_index: int = 0, max_results: int = 100
    ) -> Listing[DamstraGroup]:
        return await self._window(DamstraGroup, "group", {"q": q}, start_index, max_results)

    def iter_groups(self, *, q: str | None = None, page_size: int = 100) -> AsyncIterator[DamstraGroup]:
        return self._iterate(DamstraGroup, "group", {"q": q}, page_size)

    async def get_group(self, group_id: int | str) -> DamstraGroup:
        return await self._get(DamstraGroup, f"group/{numeric_id(group_id, 'DAMSTRA group id')}")

    async def create_group(
        self, name: str, description: str | None = None, parent_id: int | None = None
    ) -> DamstraGroup:
        body = _present({"name": name, "description": description, "parentId": parent_id})
        return parse_record(SOURCE, DamstraGroup, await self._write("POST", "group", body))

    async def update_group(
        self, group_id: int | str, name: str, description: str | None = None, parent_id: int | None = None
    ) -> DamstraGroup:
        path = f"group/{numeric_id(group_id, 'DAMSTRA group id')}"
        body = _present({"name": name, "description": description, "parentId": parent_id})
        return parse_record(SOURCE, DamstraGroup, await self._write("POST", path, body))

    async def inactivate_group(self, group_id: int | str) -> None:
        await self._write("POST", f"group/{numeric_id(group_id, 'DAMSTRA group id')}/inactivate")

    async def list_group_members(
        self, group_id: int | str, *, start_index: int = 0, max_results: int = 100
    ) -> Listing[DamstraUser]:
        path = f"group/{numeric_id(group_id, 'DAMSTRA group id')}/member"
        return await self._window(DamstraUser, path, {}, start_index, max_results)

    def iter_group_members(self, group_id: int | str, *, page_size: int = 100) -> AsyncIterator[DamstraUser]:
        path = f"group/{numeric_id(group_id, 'DAMSTRA group id')}/member"
        return self._iterate(DamstraUser, path, {}, page_size)

    async def list_group_supervisors(
        self, group_id: int | str, *, start_index: int = 0, max_results: int = 100
    ) -> Listing[DamstraUser]:
        path = f"group/{numeric_id(group_id, 'DAMSTRA group id')}/supervisor"
        return await self._window(DamstraUser, path, {}, start_index, max_results)

    async def _group_users(self, group_id: int | str, action: str, user_ids: Sequence[int]) -> None:
        path = f"group/{numeric_id(group_id, 'DAMSTRA group id')}/{action}"
        await self._write("POST", path, {"userIds": _user_ids(user_ids)})

    async def add_group_members(self, group_id: int | str, user_ids: Sequence[int]) -> None:
        await self._group_users(group_id, "add_members", user_ids)

    async def remove_group_members(self, group_id: int | str, user_ids: Sequence[int]) -> None:
        await self._group_users(group_id, "remove_members", user_ids)

    async def add_group_supervisors(self, group_id: int | str, user_ids: Sequence[int]) -> None:
        await self._group_users(group_id, "add_supervisors", user_ids)

    async def remove_group_supervisors(self, group_id: int | str, user_ids: Sequence[int]) -> None:
        await self._group_users(group_id, "remove_supervisors", user_ids)

    # -- lessons --------------------------------------------------------------------------------

    async def list_lessons(
        self,
        *,
        q: str | None = None,
        lesson_ids: Sequence[int] | None = None,
        published_states: Sequence[str] | None = None,
        start_index: int = 0,
        max_results: int = 100,
    ) -> Listing[DamstraLesson]:
        params = {"q": q, "lessonIds": _joined(lesson_ids), "publishedStates": _joined(published_states)}
        return await self._window(DamstraLesson, "lesson", params, start_index, max_results)

    async def list_lesson_details(
        self,
        *,
        q: str | None = None,
        lesson_ids: Sequence[int] | None = None,
        published_states: Sequence[str] | None = None,
        start_index: int = 0,
        max_results: int = 100,
    ) -> Listing[DamstraLesson]:
        params = {"q": q, "lessonIds": _joined(lesson_ids), "publishedStates": _joined(published_states)}
        return await self._window(DamstraLesson, "lessondetails", params, start_index, max_results)

    async def get_lessons_by_id(self, lesson_ids: Sequence[int | str]) -> list[DamstraLesson]:
        """Many lessons in as few requests as DAMSTRA allows: `GET /lesson?lessonIds=...`, up to 500 ids a call."""
        ids = list(dict.fromkeys(int(numeric_id(i, "DAMSTRA lesson id")) for i in lesson_ids))
        chunks = [ids[n : n + LESSON_BATCH] for n in range(0, len(ids), LESSON_BATCH)]
        found = await asyncio.gather(*(self._lessons_chunk(chunk) for chunk in chunks))
        return [lesson for chunk in found for lesson in chunk]

    async def _lessons_chunk(self, ids: list[int]) -> list[DamstraLesson]:
        request = PageRequest("lesson", {"lessonIds": _joined(ids)})
        items = await self.http.collect(StartIndexPaging(page_size=len(ids)), request)
        return parse_records(SOURCE, DamstraLesson, items)

    # -- lesson schedules -----------------------------------------------------------------------

    async def get_lesson_schedule(self, schedule_id: int | str) -> DamstraSchedule:
        path = f"lesson_schedule/{numeric_id(schedule_id, 'DAMSTRA lesson schedule id')}"
        return await self._get(DamstraSchedule, path)

    async def list_user_schedules(
        self,
        user_id: int | str,
        *,
        status: ScheduleStatusFilter = "all",
        start_index: int = 0,
        max_results: int = 100,
    ) -> Listing[DamstraSchedule]:
        # This listing sends no `meta`: the paging stops on a short page and the total is unknown.
        path = f"user/{numeric_id(user_id, 'DAMSTRA user id')}/lesson_schedule"
        return await self._window(DamstraSchedule, path, {"status": status}, start_index, max_results)

    def iter_user_schedules(
        self, user_id: int | str, *, status: ScheduleStatusFilter = "all", page_size: int = 100
    ) -> AsyncIterator[DamstraSchedule]:
        path = f"user/{numeric_id(user_id, 'DAMSTRA user id')}/lesson_schedule"
        return self._iterate(DamstraSchedule, path, {"status": status}, page_size)

    async def schedule_user(
        self,
        user_id: int | str,
        lesson_version_ids: Sequence[int],
        schedule_date: datetime | None = None,
        grace_period: int | None = None,
        grace_period_unit: GracePeriodUnit | None = None,
    ) -> list[int]:
        """Schedules; answers the new lesson schedule ids. Already scheduled: UpstreamRejected
        with upstream_code ALREADY_SCHEDULED."""
        path = f"user/{numeric_id(user_id, 'DAMSTRA user id')}/lesson_schedule"
        body = _present(
            {
                "lessonVersionIds": [
                    int(numeric_id(i, "DAMSTRA lesson version id")) for i in lesson_version_ids
                ],
                "scheduleDate": format_damstra_datetime(schedule_date) if schedule_date else None,
                # The seed types gracePeriod as a string ("14").
                "gracePeriod": str(grace_period) if grace_period is not None else None,
                "gracePeriodUnit": grace_period_unit,
            }
        )
        return _created_ids(await self._write("POST", path, body))

    async def complete_lesson(
        self,
        user_id: int | str,
        *,
        lesson_id: int | None = None,
        lesson_version_id: int | None = None,
        completed_date: datetime | None = None,
        completed_by_user_id: int | None = None,
    ) -> list[int]:
        """Records a completion; answers the completed lesson schedule ids."""
        if lesson_id is None and lesson_version_id is None:
            raise ValueError("complete_lesson needs lesson_id or lesson_version_id")
        path = f"lesson_schedule/{numeric_id(user_id, 'DAMSTRA user id')}/complete_lesson"
        body = _present(
            {
                "lessonId": lesson_id,
                "lessonVersionId": lesson_version_id,
                # The seed marks completedDate required; "now" is what a manual completion means.
                "completedDate": format_damstra_datetime(completed_date or datetime.now(UTC)),
                "manuallyCompletedByUserId": completed_by_user_id,
            }
        )
        return _created_ids(await self._write("POST", path, body))

    async def get_certificate(self, schedule_id: int | str) -> bytes:
        """The PDF certificate of a passed, completed lesson schedule."""
        path = f"lesson_schedule/{numeric_id(schedule_id, 'DAMSTRA lesson schedule id')}/certificate"
        response, _ = await self.http.request("GET", path)
        return response.content

    # -- ILT sessions ---------------------------------------------------------------------------

    async def list_ilt_sessions(
        self,
        *,
        lesson_schedule_id: int | None = None,
        state: int | None = None,
        status: int | None = None,
        instructor_id: int | None = None,
        start_index: int = 0,
        max_results: int = 100,
    ) -> Listing[DamstraILTSession]:
        params = _ilt_filters(lesson_schedule_id, state, status, instructor_id)
        return await self._window(DamstraILTSession, "ilt_session", params, start_index, max_results)

    def iter_ilt_sessions(
        self,
        *,
        lesson_schedule_id: int | None = None,
        state: int | None = None,
        status: int | None = None,
        instructor_id: int | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[DamstraILTSession]:
        params = _ilt_filters(lesson_schedule_id, state, status, instructor_id)
        return self._iterate(DamstraILTSession, "ilt_session", params, page_size)

    async def get_ilt_session(self, session_id: int | str) -> DamstraILTSession:
        return await self._get(
            DamstraILTSession, f"ilt_session/{numeric_id(session_id, 'DAMSTRA ILT session id')}"
        )

    async def create_ilt_session(self, fields: DamstraILTSessionInput) -> DamstraILTSession:
        return parse_record(
            SOURCE, DamstraILTSession, await self._write("POST", "ilt_session", fields.to_body())
        )

    async def update_ilt_session(
        self, session_id: int | str, fields: DamstraILTSessionInput
    ) -> DamstraILTSession:
        path = f"ilt_session/{numeric_id(session_id, 'DAMSTRA ILT session id')}"
        return parse_record(SOURCE, DamstraILTSession, await self._write("PATCH", path, fields.to_body()))

    async def complete_ilt_session(self, session_id: int | str) -> None:
        await self._write("POST", f"ilt_session/{numeric_id(session_id, 'DAMSTRA ILT session id')}/complete")

    async def cancel_ilt_session(
        self, session_id: int | str, *, notify_trainees: bool = True, notify_instructor: bool = True
    ) -> None:
        path = f"ilt_session/{numeric_id(session_id, 'DAMSTRA ILT session id')}/cancel_session"
        body = {
            "iltSessionCancellationTraineeNotificationEnabled": notify_trainees,
            "iltSessionCancellationInstructorNotificationEnabled": notify_instructor,
        }
        await self._write("POST", path, body)

    async def bulk_register(self, session_id: int | str, user_ids: Sequence[int]) -> None:
        """Registers users, who must already be scheduled to the session's lesson."""
        path = f"ilt_session/{numeric_id(session_id, 'DAMSTRA ILT session id')}/bulk_register"
        await self._write("POST", path, {"userIds": _user_ids(user_ids)})

    async def bulk_deregister(self, session_id: int | str, user_ids: Sequence[int]) -> None:
        path = f"ilt_session/{numeric_id(session_id, 'DAMSTRA ILT session id')}/bulk_deregister"
        await self._write("POST", path, {"userIds": _user_ids(user_ids)})

    async def list_attendees(self, session_id: int | str) -> list[DamstraAttendee]:
        path = f"ilt_session/{numeric_id(session_id, 'DAMSTRA ILT session id')}/attendees"
        # Documented without paging parameters; the answer is the usual `{"results", "meta"}`.
        body = await self.http.get_json(path)
        return parse_records(SOURCE, DamstraAttendee, StartIndexPaging().items(body))

    async def save_attendance(
        self, session_id: int | str, attendees: Sequence[tuple[int, bool | None, bool | None]]
    ) -> None:
        """`attendees`: (attendee id, passed, attended); None leaves that flag as it is."""
        path = f"ilt_session/{numeric_id(session_id, 'DAMSTRA ILT session id')}/save_progress"
        rows = [
            _present({"id": int(numeric_id(a, "DAMSTRA attendee id")), "passed": p, "attended": t})
            for a, p, t in attendees
        ]
        await self._write("POST", path, {"attendees": rows})

    # -- embedded player ------------------------------------------------------------------------

    async def get_embed_url(self, schedule_id: int | str) -> str:
        sid = numeric_id(schedule_id, "DAMSTRA lesson schedule id")
        return _embed_url(await self.http.get_json("embed_player", {"lessonScheduleId": sid}))

    async def get_embed_url_all_lessons(self, schedule_id: int | str) -> str:
        path = f"embed_player/version/{numeric_id(schedule_id, 'DAMSTRA lesson schedule id')}"
        return _embed_url(await self.http.get_json(path))


def _created_ids(body: Any) -> list[int]:
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise UpstreamMalformedResponse(SOURCE.slug, 'expected {"ids": [...]} of lesson schedule ids')
    return ids


def _embed_url(body: Any) -> str:
    url = body.get("embedUrl") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url:
        raise UpstreamMalformedResponse(SOURCE.slug, 'expected {"embedUrl": ...}')
    return url
