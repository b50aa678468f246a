"""`LearningLoginClient`: each LearningLogin endpoint declared once, answering `TrainSession` records.

    client = LearningLoginClient.connect("https://learninglogin.com/api", secret=SecretStr(token))
    page = await client.train_sessions(TrainSessionFilters(assignee_login_username_eq="jdoe")).page(1)
    async for session in client.train_sessions(TrainSessionFilters(score_eq=80)).iterate(): ...

Ids entering a path pass `numeric_id`; reads are retried, the unassign writes sent once. JSON only: both
documents give every endpoint as JSON first and the `.xml` variants carry the same records (docs/vendors.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from gateway.native_ids import numeric_id
from gateway.settings import Settings
from gateway.sources import Source
from gateway.upstreams.auth import Auth, QueryAuth
from gateway.upstreams.connector import Connector
from gateway.upstreams.endpoints import ListEndpoint
from gateway.upstreams.learninglogin.errors import decode_learninglogin_error
from gateway.upstreams.learninglogin.records import TrainSession, TrainSessionFilters, UnassignIdsForm
from gateway.upstreams.paging import LinkHeaderPaging, Listing, PageRequest
from gateway.upstreams.records import parse_record

SOURCE = Source.LEARNINGLOGIN
PER_PAGE = 64  # the documents' `Per-Page`; the API takes no page-size parameter
TOKEN_PARAM = "token"


class TrainSessionListing(ListEndpoint[TrainSession]):
    """`GET /train_sessions`: newest first, 64 a page, the next page wherever `Link: <...>; rel="next"`
    points; a window is one page, by number."""

    page_size = PER_PAGE

    def paging(self, page_size: int) -> LinkHeaderPaging:
        # LearningLogin takes no page-size parameter: every page is PER_PAGE long.
        return LinkHeaderPaging()

    async def page(self, page: int = 1) -> Listing[TrainSession]:
        """One page; `total` from the `Total` header when sent."""
        if page < 1:
            raise ValueError("LEARNINGLOGIN pages count from 1")
        return await self.read_window(LinkHeaderPaging(start_page=page), PER_PAGE)


class LearningLoginClient(Connector):
    """One method per LearningLogin endpoint, answering typed records.

    Ids entering a path pass `numeric_id` first; reads are retried by `UpstreamHTTP`, the unassign
    writes are sent once.
    """

    source = SOURCE
    decode_error = staticmethod(decode_learninglogin_error)
    unassign_ids_form: UnassignIdsForm = "json-list"  # see `unassign_train_sessions`

    def configure(self, settings: Settings) -> None:
        self.unassign_ids_form = settings.learninglogin_unassign_ids_form

    async def probe(self) -> None:
        await self.train_sessions().page()

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return QueryAuth(TOKEN_PARAM, secret)

    # -- train sessions -------------------------------------------------------------------------

    def train_sessions(self, filters: TrainSessionFilters | None = None) -> TrainSessionListing:
        return TrainSessionListing(self.http, TrainSession, PageRequest("train_sessions", _params(filters)))

    async def get_train_session(self, session_id: int | str) -> TrainSession:
        path = f"train_sessions/{numeric_id(session_id, 'LEARNINGLOGIN train session id')}"
        return parse_record(SOURCE, TrainSession, await self.http.get_json(path))

    async def unassign_courses(self, login_id: int | str, course_codes: Sequence[str]) -> None:
        """Removes the login's sessions of these courses. None matched: UpstreamNotFound with
        upstream_code NO_MATCHING_TRAIN_SESSIONS (the documents' 200-with-text answer)."""
        codes = _non_empty(course_codes, "course code")
        body = {"course_codes": codes, "login_id": int(numeric_id(login_id, "LEARNINGLOGIN login id"))}
        await self.http.write("POST", "train_sessions/unassign", json=body)

    async def unassign_train_sessions(self, session_ids: Sequence[int | str]) -> None:
        """The older unassign (LearningLogin's short document) by train session id; none matched: as `unassign_courses`."""
        ids = [numeric_id(i, "LEARNINGLOGIN train session id") for i in _non_empty(session_ids, "id")]
        # The short document writes `POST .../unassign?ids=[ids]` and "ids=[] is an array of train sessions
        # ids"; it shows no example. Sent as written, `ids=[1,2]` (`json-list`, the default): the one form
        # the document spells out. Rack's own array form, `ids[]=1&ids[]=2` (`brackets`), is the other
        # reading of "ids=[]" for a Rails app; LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM=brackets sends it.
        if self.unassign_ids_form == "brackets":
            params: dict[str, Any] = {"ids[]": ids}
        else:
            params = {"ids": "[" + ",".join(ids) + "]"}
        await self.http.write("POST", "train_sessions/unassign", params=params)


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


CONNECTOR = LearningLoginClient
