"""`DamstraClient`: each DAMSTRA endpoint declared once, answering the records of `records.py`.

    client = DamstraClient.connect("https://app.velpic.com/api/v2", secret=SecretStr(key))
    page = await client.users(q="smith").window(max_results=20)
    schedules = await client.user_schedules(user_id, status="completed").all()
    lessons = await client.get_lessons_by_id([1234, 1235])

Every id entering a path passes `numeric_id`; reads are retried by `UpstreamHTTP`, writes sent once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr

from gateway.dates import format_damstra_datetime
from gateway.errors import UpstreamMalformedResponse
from gateway.native_ids import numeric_id
from gateway.settings import Settings
from gateway.sources import Source
from gateway.upstreams.auth import Auth, HeaderAuth
from gateway.upstreams.connector import Connector
from gateway.upstreams.damstra.errors import decode_damstra_error
from gateway.upstreams.damstra.records import (
    ActiveValue,
    DamstraAttendee,
    DamstraCreated,
    DamstraGroup,
    DamstraILTSession,
    DamstraILTSessionInput,
    DamstraLesson,
    DamstraSchedule,
    DamstraUser,
    DamstraUserInput,
    ExpiresIn,
    GracePeriodUnit,
    MergeType,
    ScheduleStatusFilter,
    UpdateUserMethod,
)
from gateway.upstreams.endpoints import ListEndpoint
from gateway.upstreams.paging import Listing, PageRequest, StartIndexPaging
from gateway.upstreams.records import parse_record, parse_records

SOURCE = Source.DAMSTRA
# Ids per `GET /lesson?lessonIds=...`: a dashboard's lessons in one call, in a query string of about
# 5 KB at 7-digit ids (each comma goes as %2C), under the 8 KB servers commonly accept.
LESSON_BATCH = 500

R = TypeVar("R", bound=BaseModel)


def _present(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def _joined(values: Sequence[int | str] | None) -> str | None:
    # Array query parameters go comma-separated, as the API document's `lessonIds=1234,1235`.
    return None if values is None else ",".join(str(v) for v in values)


def _user_ids(user_ids: Sequence[int]) -> list[int]:
    return [int(numeric_id(i, "DAMSTRA user id")) for i in user_ids]


class DamstraListing(ListEndpoint[R]):
    """A DAMSTRA listing: windows by `startIndex`/`maxResults`; read whole, the pages after the first
    go at once where `meta` tells the total."""

    def paging(self, page_size: int) -> StartIndexPaging:
        return StartIndexPaging(page_size=page_size)

    async def window(self, *, start_index: int = 0, max_results: int = 100) -> Listing[R]:
        paging = StartIndexPaging(page_size=max_results, start_index=start_index)
        return await self.read_window(paging, max_results)


class DamstraClient(Connector):
    """One method per DAMSTRA endpoint: a read or a write answering typed records, or a listing
    declared once (`DamstraListing`), read a window at a time or whole.

    Every id entering a path passes `numeric_id` first; reads are retried by `UpstreamHTTP`,
    writes are sent once.
    """

    source = SOURCE
    decode_error = staticmethod(decode_damstra_error)
    update_user_method: UpdateUserMethod = "POST"  # see `update_user`

    def configure(self, settings: Settings) -> None:
        self.update_user_method = settings.damstra_update_user_method

    async def probe(self) -> None:
        await self.users().window(max_results=1)

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return HeaderAuth("AccessKey", secret)

    # -- plumbing shared by the endpoints -------------------------------------------------------

    async def _get(self, model: type[R], path: str, params: Mapping[str, Any] | None = None) -> R:
        return parse_record(SOURCE, model, await self.http.get_json(path, _present(params or {})))

    def _listing(
        self, model: type[R], path: str, params: Mapping[str, Any] | None = None
    ) -> DamstraListing[R]:
        return DamstraListing(self.http, model, PageRequest(path, _present(params or {})))

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

    def users(
        self,
        *,
        q: str | None = None,
        emp_id: str | None = None,
        email: str | None = None,
        active_value: ActiveValue = "active",
        role_id: int | None = None,
    ) -> DamstraListing[DamstraUser]:
        params = {
            "q": q,
            "empId": emp_id,
            "emailAddress": email,
            "activeValue": active_value,
            "roleId": role_id,
        }
        return self._listing(DamstraUser, "user", params)

    async def get_user(self, user_id: int | str) -> DamstraUser:
        return await self._get(DamstraUser, f"user/{numeric_id(user_id, 'DAMSTRA user id')}")

    async def create_user(self, fields: DamstraUserInput) -> DamstraCreated:
        return parse_record(SOURCE, DamstraCreated, await self._write("POST", "user", fields.to_body()))

    async def update_user(self, user_id: int | str, fields: DamstraUserInput) -> DamstraUser:
        # The API document's "Update User" gives a body but no method or path. POST is the verb its evidence
        # supports: every other write it documents is a POST (the one exception, ILT sessions, is PATCH),
        # and its nearest kin, "Update" of a group, is `POST /group/{groupId}`; no endpoint of the API
        # uses PUT. So `POST /user/{userId}`, the body repeating the id as the document's example does.
        # LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD=PUT switches to the REST reading without a code change.
        uid = numeric_id(user_id, "DAMSTRA user id")
        body = {"id": int(uid), **fields.to_body()}
        answer = await self._write(self.update_user_method, f"user/{uid}", body)
        return parse_record(SOURCE, DamstraUser, answer)

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
        # The API document shows the body as the bare `touch_token_url`: a JSON string or plain text.
        if isinstance(body, dict):
            body = body.get("url") or body.get("loginUrl") or body.get("touchTokenUrl")
        url = body if isinstance(body, str) else (response.text.strip() if body is None else "")
        # `disabled` switches the user's magic links off: there is no URL to answer.
        if not url and expires_in != "disabled":
            raise UpstreamMalformedResponse(SOURCE.slug, "generate_login_url answered no URL")
        return url

    # -- groups ---------------------------------------------------------------------------------

    def groups(self, *, q: str | None = None) -> DamstraListing[DamstraGroup]:
        return self._listing(DamstraGroup, "group", {"q": q})

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

    def group_members(self, group_id: int | str) -> DamstraListing[DamstraUser]:
        return self._listing(DamstraUser, f"group/{numeric_id(group_id, 'DAMSTRA group id')}/member")

    def group_supervisors(self, group_id: int | str) -> DamstraListing[DamstraUser]:
        return self._listing(DamstraUser, f"group/{numeric_id(group_id, 'DAMSTRA group id')}/supervisor")

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

    def lessons(
        self,
        *,
        q: str | None = None,
        lesson_ids: Sequence[int] | None = None,
        published_states: Sequence[str] | None = None,
    ) -> DamstraListing[DamstraLesson]:
        return self._lesson_listing("lesson", q, lesson_ids, published_states)

    def lesson_details(
        self,
        *,
        q: str | None = None,
        lesson_ids: Sequence[int] | None = None,
        published_states: Sequence[str] | None = None,
    ) -> DamstraListing[DamstraLesson]:
        """`GET /lessondetails`: the lesson list with its details (questionnaire data), same filters."""
        return self._lesson_listing("lessondetails", q, lesson_ids, published_states)

    def _lesson_listing(
        self,
        path: str,
        q: str | None,
        lesson_ids: Sequence[int] | None,
        published_states: Sequence[str] | None,
    ) -> DamstraListing[DamstraLesson]:
        params = {"q": q, "lessonIds": _joined(lesson_ids), "publishedStates": _joined(published_states)}
        return self._listing(DamstraLesson, path, params)

    async def get_lessons_by_id(self, lesson_ids: Sequence[int | str]) -> list[DamstraLesson]:
        """Many lessons in as few requests as DAMSTRA allows: `GET /lesson?lessonIds=...`, up to 500 ids a call."""
        return await self._by_ids(self.lessons, lesson_ids)

    async def get_lesson_details_by_id(self, lesson_ids: Sequence[int | str]) -> list[DamstraLesson]:
        """As `get_lessons_by_id`, from `GET /lessondetails?lessonIds=...`."""
        return await self._by_ids(self.lesson_details, lesson_ids)

    @staticmethod
    async def _by_ids(
        listing: Callable[..., DamstraListing[DamstraLesson]], lesson_ids: Sequence[int | str]
    ) -> list[DamstraLesson]:
        ids = list(dict.fromkeys(int(numeric_id(i, "DAMSTRA lesson id")) for i in lesson_ids))
        chunks = [ids[n : n + LESSON_BATCH] for n in range(0, len(ids), LESSON_BATCH)]
        found = await asyncio.gather(
            *(listing(lesson_ids=chunk).all(page_size=len(chunk)) for chunk in chunks)
        )
        return [lesson for chunk in found for lesson in chunk]

    # -- lesson schedules -----------------------------------------------------------------------

    async def get_lesson_schedule(self, schedule_id: int | str) -> DamstraSchedule:
        path = f"lesson_schedule/{numeric_id(schedule_id, 'DAMSTRA lesson schedule id')}"
        return await self._get(DamstraSchedule, path)

    def user_schedules(
        self, user_id: int | str, *, status: ScheduleStatusFilter = "all"
    ) -> DamstraListing[DamstraSchedule]:
        # This listing sends no `meta`: the paging stops on a short page and the total is unknown.
        path = f"user/{numeric_id(user_id, 'DAMSTRA user id')}/lesson_schedule"
        return self._listing(DamstraSchedule, path, {"status": status})

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
                # The API document types gracePeriod as a string ("14").
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
                # The API document marks completedDate required; "now" is what a manual completion means.
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

    def ilt_sessions(
        self,
        *,
        lesson_schedule_id: int | None = None,
        state: int | None = None,
        status: int | None = None,
        instructor_id: int | None = None,
    ) -> DamstraListing[DamstraILTSession]:
        params = {
            "lessonScheduleId": lesson_schedule_id,
            "state": state,
            "status": status,
            "instructorId": instructor_id,
        }
        return self._listing(DamstraILTSession, "ilt_session", params)

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
        """`GET /embed_player/version/{id}`: the player for every type of lesson. (`GET /embed_player?
        lessonScheduleId=`, the document's other player, is the narrower one: `get_video_embed_url`.)"""
        sid = numeric_id(schedule_id, "DAMSTRA lesson schedule id")
        return _embed_url(await self.http.get_json(f"embed_player/version/{sid}"))

    async def get_video_embed_url(self, schedule_id: int | str) -> str:
        sid = numeric_id(schedule_id, "DAMSTRA lesson schedule id")
        return _embed_url(await self.http.get_json("embed_player", {"lessonScheduleId": sid}))


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


CONNECTOR = DamstraClient
