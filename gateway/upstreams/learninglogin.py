"""LEARNINGLOGIN train sessions (seeds 000 and 001).

    client = LearningLoginClient.connect("https://learninglogin.com/api", secret=SecretStr(token))
    page = await client.list_train_sessions(TrainSessionFilters(assignee_login_username_eq="jdoe"))
    async for session in client.iter_train_sessions(TrainSessionFilters(score_eq=80)): ...

The token rides in the `token` query parameter (the only auth the seeds show); listings are bare
JSON arrays paged by RFC 8288 `Link` headers (64 a page, `Total` and `Per-Page` headers) and
filtered with ransack-style parameters; unassigning reports "nothing matched" as a 200 with text.
The course player (`/train_sessions/{login_id}/{course_code}?token=...`) has no method here: its
URL carries the account token, so the gateway never builds or hands it out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from gateway.errors import (
    UpstreamError,
    UpstreamForbidden,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamUnauthorized,
    error_for_status,
)
from gateway.native_ids import numeric_id
from gateway.sources import Source
from gateway.upstreams.auth import Auth, QueryAuth
from gateway.upstreams.connector import Connector
from gateway.upstreams.paging import LinkHeaderPaging, Listing, PageRequest
from gateway.upstreams.paging.drivers import fetch_window, paginate
from gateway.upstreams.records import LenientFloat, Record, UpstreamDate, parse_record, parse_records

SOURCE = Source.LEARNINGLOGIN
PER_PAGE = 64  # the seed's `Per-Page`; the API takes no page-size parameter
NO_MATCHING_TRAIN_SESSIONS = "NO_MATCHING_TRAIN_SESSIONS"
NOTHING_MATCHED_TEXT = "Could not find any corresponding train sessions."
AUTH_ERROR_TEXT = "Authentication error"
TOKEN_PARAM = "token"


# -- records ------------------------------------------------------------------------------------


class TrainSession(Record):
    """A training record: one course assigned to one login. It names the trainee (`full_name`) but
    not their login id; a person's sessions are found with `assignee_login_username_eq`."""

    id: int
    course_code: str | None = None
    # Lenient: Rails renders decimal columns as JSON strings ("80.0").
    score: LenientFloat = None
    percent_complete: LenientFloat = None
    failed_attempts: int | None = None
    status: str | None = None  # Assigned | In Progress | Completed
    cert_expiry: UpstreamDate = None
    completion_date: UpstreamDate = None
    complete_by: UpstreamDate = None
    last_attempt: UpstreamDate = None  # filterable, but the seeds' bodies do not show it
    full_name: str | None = None
    time_spent: LenientFloat = None  # 12.5, "0.0" or null, all in the seeds
    success: bool | None = None  # only `GET /train_sessions/{id}` sends it


@dataclass(frozen=True)
class TrainSessionFilters:
    """The seeds' search filters for `GET /train_sessions`; unset ones are not sent.

        TrainSessionFilters(score_eq=80, completion_date_gteq=date(2015, 1, 1))

    The seeds disagree on `cert_expiry_gt/lt`: 000 calls them "greater/less than or equal", 001
    "after/before"; they are sent as named and the upstream decides.
    """

    course_code_or_course_name_cont: str | None = None
    full_name_cont: str | None = None
    score_eq: float | None = None
    completion_date_gteq: date | None = None
    completion_date_lteq: date | None = None
    cert_expiry_gt: date | None = None
    cert_expiry_lt: date | None = None
    percent_complete_eq: float | None = None
    complete_by_eq: date | None = None
    last_attempt_eq: date | None = None
    assignee_login_username_eq: str | None = None
    failed_attempts_eq: int | None = None
    unit_unit_expiry_gt: date | None = None
    unit_unit_expiry_lt: date | None = None

    def to_params(self) -> dict[str, str]:
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {name: _param(value) for name, value in values if value is not None}


def _param(value: Any) -> str:
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")  # also for a datetime: the API takes dates only
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # `score_eq=80`, as the seed's sample request
    return str(value)


# -- errors -------------------------------------------------------------------------------------


def decode_learninglogin_error(source: Source, response: httpx.Response, body: Any) -> UpstreamError | None:
    """LearningLogin's failures: status codes with `{"error": ...}` (or a line of text), and two
    answers that arrive as 200 with a text body."""
    text = response.text.strip() if body is None else ""
    if text == NOTHING_MATCHED_TEXT:
        # LearningLogin answers 200 with a text body when nothing matched: a failed unassign,
        # dressed as a success.
        return UpstreamNotFound(
            source.slug,
            "LEARNINGLOGIN found no train session to unassign",
            status_code=response.status_code,
            upstream_code=NO_MATCHING_TRAIN_SESSIONS,
        )
    said = _said(body)
    status = response.status_code
    if status == 401 or (said or text) == AUTH_ERROR_TEXT:
        # The course player answers a bad token with 'Authentication error', whatever the status.
        return UpstreamUnauthorized(source.slug, "LEARNINGLOGIN rejected the token", status_code=status)
    if status < 400:
        if text and response.request.method not in ("GET", "HEAD"):
            # A write succeeds with an empty body; any other text means we cannot tell what happened.
            return UpstreamMalformedResponse(
                source.slug, "LEARNINGLOGIN answered a write with unexpected text", status_code=status
            )
        return None
    message = said or f"{source.name} answered HTTP {status}"
    if status == 403:
        return UpstreamForbidden(source.slug, message, status_code=status)
    if status == 404:
        return UpstreamNotFound(source.slug, message, status_code=status)
    return error_for_status(source.slug, status, message)


def _said(body: Any) -> str | None:
    """The message of a Rails error body: `{"error": "..."}` or `{"errors": [...]}`."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str) and error.strip():
        return error.strip()
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return None


# -- paging ---------------------------------------------------------------------------------------


# -- client -------------------------------------------------------------------------------------


class LearningLoginClient(Connector):
    """One method per LearningLogin endpoint, answering typed records.

    Ids entering a path pass `numeric_id` first; reads are retried by `UpstreamHTTP`, the unassign
    writes are sent once.
    """

    source = SOURCE
    decode_error = staticmethod(decode_learninglogin_error)

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return QueryAuth(TOKEN_PARAM, secret)

    per_page: ClassVar[int] = PER_PAGE

    def _paging(self, page: int = 1) -> LinkHeaderPaging:
        return LinkHeaderPaging(start_page=page)

    # -- train sessions -------------------------------------------------------------------------

    async def list_train_sessions(
        self, filters: TrainSessionFilters | None = None, *, page: int = 1
    ) -> Listing[TrainSession]:
        """One page (64 sessions, newest first); `total` from the `Total` header when sent."""
        if page < 1:
            raise ValueError("LEARNINGLOGIN pages count from 1")
        request = PageRequest("train_sessions", _params(filters))
        window = await fetch_window(self.http, self._paging(page), request, PER_PAGE)
        return Listing(parse_records(SOURCE, TrainSession, window.items), window.total)

    async def iter_train_sessions(
        self, filters: TrainSessionFilters | None = None
    ) -> AsyncIterator[TrainSession]:
        """Every matching session, following `Link: <...>; rel="next"` page after page."""
        request = PageRequest("train_sessions", _params(filters))
        async for page in paginate(self.http, self._paging(), request):
            for session in parse_records(SOURCE, TrainSession, page.items):
                yield session

    async def get_train_session(self, session_id: int | str) -> TrainSession:
        path = f"train_sessions/{numeric_id(session_id, 'LEARNINGLOGIN train session id')}"
        return parse_record(SOURCE, TrainSession, await self.http.get_json(path))

    async def unassign_courses(self, login_id: int | str, course_codes: Sequence[str]) -> None:
        """Removes the login's sessions of these courses. None matched: UpstreamNotFound with
        upstream_code NO_MATCHING_TRAIN_SESSIONS (the seed's 200-with-text answer)."""
        codes = _non_empty(course_codes, "course code")
        body = {"course_codes": codes, "login_id": int(numeric_id(login_id, "LEARNINGLOGIN login id"))}
        await self.http.write("POST", "train_sessions/unassign", json=body)

    async def unassign_train_sessions(self, session_ids: Sequence[int | str]) -> None:
        """The older unassign (seed 001) by train session id; none matched: as `unassign_courses`."""
        ids = [numeric_id(i, "LEARNINGLOGIN train session id") for i in _non_empty(session_ids, "id")]
        # Seed 001 writes `?ids=[ids]` and calls it an array. Rails reads an array from the query
        # only in Rack's `ids[]=1&ids[]=2` form (`ids=[1,2]` arrives as one string that a plain
        # `where(id: params[:ids])` cannot use), so that is the form sent.
        await self.http.write("POST", "train_sessions/unassign", params={"ids[]": ids})


def _params(filters: TrainSessionFilters | None) -> dict[str, Any]:
    return dict(filters.to_params()) if filters is not None else {}


def _non_empty(values: Sequence[Any], what: str) -> list[Any]:
    # A bare string is a Sequence[str]: "WHMIS" must not become ["W", "H", ...].
    if isinstance(values, str | bytes):
        raise TypeError(f"expected a list of {what}s, got a single string")
    listed = list(values)
    if not listed:
        raise ValueError(f"unassigning needs at least one {what}")
    return listed
