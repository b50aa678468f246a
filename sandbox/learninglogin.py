"""The LEARNINGLOGIN sandbox: LearningLogin's train sessions API (docs/vendors.md) as a Rails app serves it.

    app = create_app(world, controls)      # routes relative to the base URL (`.../api`)

Rails behaviour mirrored: `token` query authentication on every request; the `.json`/`.xml` format
suffix; ransack-style filters given as top-level query parameters (blank values ignored, values
cast to the column's type, NULL never matching); api-pagination's RFC 8288 `Link` (absolute URLs
echoing every query parameter, sorted as Rails' `to_query` sorts them), `Per-Page` and `Total`
headers; ActiveRecord's `to_xml` (dasherized tags, `type` attributes, `nil="true"`); and the
unassign endpoint's 200-with-text answer when nothing matched.
"""

from __future__ import annotations

import hmac
import html
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import date
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.controls import ControlsMiddleware, SandboxControls
from sandbox.world import LearningLoginState, TrainSessionRow, World

# Where this API lives below the sandbox's address (as its production base URL ends), and its key.
MOUNT = "/learninglogin/api"
CREDENTIAL = "sandbox-learninglogin-token"
PER_PAGE = 64
AUTH_ERROR = "Authentication error"
NOTHING_MATCHED = "Could not find any corresponding train sessions."
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
USERNAME_FILTER = "assignee_login_username_eq"
_LEADING_NUMBER = re.compile(r"\s*[-+]?\d+(?:\.\d+)?")

# One row per serialized attribute, in the full document's order: (json key, xml type or None).
# Its XML types `cert-expiry` as a date but leaves `completion-date` untyped; kept as shown.
FIELDS: tuple[tuple[str, str | None], ...] = (
    ("id", "integer"),
    ("course_code", None),
    ("score", "integer"),
    ("percent_complete", "integer"),
    ("failed_attempts", "integer"),
    ("status", None),
    ("cert_expiry", "date"),
    ("completion_date", None),
    ("complete_by", "date"),
    ("full_name", None),
    ("time_spent", "decimal"),
)
SHOW_FIELDS = (*FIELDS, ("success", "boolean"))


# -- rendering ------------------------------------------------------------------------------------


def _format(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _xml(root: ET.Element, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    ET.indent(root, space="  ")
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return Response(text, status_code=status, media_type="application/xml", headers=headers)


def _error(fmt: str, message: str, status: int) -> Response:
    # Rails renders `{error: ...}` as JSON, or through Hash#to_xml, whose root is `<hash>`.
    if fmt == "xml":
        root = ET.Element("hash")
        ET.SubElement(root, "error").text = message
        return _xml(root, status)
    return _json({"error": message}, status)


def _error_body(status: int) -> tuple[bytes, str]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return orjson.dumps({"error": phrase}), "application/json"


def _xml_text(value: Any, xml_type: str | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if xml_type == "decimal":
        return str(float(value))  # BigDecimal#to_s: 45 -> "45.0", "30.25" -> "30.25"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _xml_record(tag: str, record: dict[str, Any], fields: tuple[tuple[str, str | None], ...]) -> ET.Element:
    element = ET.Element(tag)
    for key, xml_type in fields:
        child = ET.SubElement(element, key.replace("_", "-"))
        value = record[key]
        if value is None:
            child.set("nil", "true")
            continue
        if xml_type is not None:
            child.set("type", xml_type)
        child.text = _xml_text(value, xml_type)
    return element


# -- query parsing --------------------------------------------------------------------------------


def _ruby_int(text: str) -> int:
    # Rails casts a filter value to the column's type the way String#to_i does: "80abc" -> 80, "x" -> 0.
    match = _LEADING_NUMBER.match(text)
    return int(float(match.group())) if match else 0


def _date_or_none(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or "1"))
    except ValueError:
        return 1


class WrongIdsForm(ValueError):
    pass


def _ids_from_query(request: Request, form: str) -> list[str] | None:
    """The older unassign's ids, in the one form this sandbox is set to (`controls.unassign_ids_form`):
    `json-list`, the short document's own `ids=[1,2]`, or `brackets`, Rack's `ids[]=1&ids[]=2`. The
    document shows no example, so the sandbox takes only the form the connector is set to send and
    refuses the other (WrongIdsForm): a wrong guess fails a test instead of passing unnoticed."""
    params = request.query_params
    listed, raw = params.getlist("ids[]"), params.get("ids")
    if not listed and raw is None:
        return None
    if form == "brackets":
        if raw is not None or not listed:
            raise WrongIdsForm("ids must be sent as an array: ids[]=1&ids[]=2")
        return listed
    if listed or raw is None:
        raise WrongIdsForm("ids must be sent as a list: ids=[1,2]")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, list) or not all(
        isinstance(i, int | str) and not isinstance(i, bool) for i in parsed
    ):
        raise WrongIdsForm("ids must be sent as a list: ids=[1,2]")
    return [str(i).strip() for i in parsed]


# -- filters --------------------------------------------------------------------------------------

Getter = Callable[[TrainSessionRow], Any]
Predicate = Callable[[Any, Any], bool]


def _cont(value: Any, wanted: str) -> bool:
    return wanted.lower() in str(value).lower()


# Ransack predicates by the query parameter that names them: (the value's column(s), how to cast the
# parameter, the comparison). The full document makes `cert_expiry_gt/lt` inclusive ("greater
# or equal", "less than or equal"); `unit_unit_expiry_gt/lt` are described only as "after"/"before",
# so they keep ransack's strict meaning.
def _filters(state: LearningLoginState) -> dict[str, tuple[Getter, Callable[[str], Any], Predicate]]:
    def full_name(ts: TrainSessionRow) -> str | None:
        login = state.logins.get(ts.login_id)
        return login.full_name if login else None

    def username(ts: TrainSessionRow) -> str | None:
        login = state.logins.get(ts.login_id)
        return login.username if login else None

    def eq(a: Any, b: Any) -> bool:
        return bool(a == b)

    def ge(a: Any, b: Any) -> bool:
        return bool(a >= b)

    def le(a: Any, b: Any) -> bool:
        return bool(a <= b)

    def gt(a: Any, b: Any) -> bool:
        return bool(a > b)

    def lt(a: Any, b: Any) -> bool:
        return bool(a < b)

    def text(raw: str) -> str:
        return raw

    return {
        "course_code_or_course_name_cont": (lambda ts: f"{ts.course_code}\n{ts.course_name}", text, _cont),
        "full_name_cont": (full_name, text, _cont),
        "score_eq": (lambda ts: ts.score, _ruby_int, eq),
        "completion_date_gteq": (lambda ts: ts.completion_date, _date_or_none, ge),
        "completion_date_lteq": (lambda ts: ts.completion_date, _date_or_none, le),
        "cert_expiry_gt": (lambda ts: ts.cert_expiry, _date_or_none, ge),
        "cert_expiry_lt": (lambda ts: ts.cert_expiry, _date_or_none, le),
        "percent_complete_eq": (lambda ts: ts.percent_complete, _ruby_int, eq),
        "complete_by_eq": (lambda ts: ts.complete_by, _date_or_none, eq),
        "last_attempt_eq": (lambda ts: ts.last_attempt, _date_or_none, eq),
        USERNAME_FILTER: (username, text, eq),
        "failed_attempts_eq": (lambda ts: ts.failed_attempts, _ruby_int, eq),
        "unit_unit_expiry_gt": (lambda ts: ts.unit_expiry, _date_or_none, gt),
        "unit_unit_expiry_lt": (lambda ts: ts.unit_expiry, _date_or_none, lt),
    }


class LearningLoginApi:
    def __init__(self, state: LearningLoginState, controls: SandboxControls) -> None:
        self.state = state
        self.controls = controls
        self.filters = _filters(state)

    # -- routes ---------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        fmt = _format(request)
        if not self._authenticated(request):
            # The documents give only the course player's auth failure; the API answers the same words.
            return _error(fmt, AUTH_ERROR, 401)
        matches = sorted(self._matching(request), key=lambda ts: ts.id, reverse=True)
        page = _page_number(request.query_params.get("page"))
        headers = _paging_headers(request, page, len(matches))
        records = [self._render(ts) for ts in matches[(page - 1) * PER_PAGE : page * PER_PAGE]]
        if fmt == "xml":
            root = ET.Element("train-sessions", {"type": "array"})
            root.extend(_xml_record("train-session", r, FIELDS) for r in records)
            return _xml(root, headers=headers)
        return _json(records, headers=headers)

    async def show(self, request: Request) -> Response:
        ident = request.path_params["ident"]
        fmt = "xml" if ident.endswith(".xml") else "json"
        if not self._authenticated(request):
            return _error(fmt, AUTH_ERROR, 401)
        number = ident.removesuffix(".xml").removesuffix(".json")
        session = self.state.train_sessions.get(int(number)) if number.isdigit() else None
        if session is None:
            return _error(fmt, "Not Found", 404)
        record = self._render(session, show=True)
        if fmt == "xml":
            return _xml(_xml_record("train-session", record, SHOW_FIELDS))
        return _json(record)

    async def unassign(self, request: Request) -> Response:
        fmt = _format(request)
        if not self._authenticated(request):
            return _error(fmt, AUTH_ERROR, 401)
        try:
            ids = _ids_from_query(request, self.controls.unassign_ids_form)
        except WrongIdsForm as exc:
            return _error(fmt, str(exc), 400)
        if ids is not None:
            # The older variant (the short document): train session ids in the query string.
            doomed = [int(i) for i in ids if i.isdigit() and int(i) in self.state.train_sessions]
        else:
            params = await _unassign_params(request, fmt)
            if isinstance(params, Response):
                return params
            login_id, codes = params
            doomed = [ts.id for ts in self.state.sessions_of_logins([login_id]) if ts.course_code in codes]
        if not doomed:
            # The full document's failure answer: 200 and a line of text, not an error status.
            return PlainTextResponse(NOTHING_MATCHED)
        for session_id in doomed:
            del self.state.train_sessions[session_id]
        return Response(status_code=200)

    async def player(self, request: Request) -> Response:
        """The course player an iframe embeds: a page, not an API answer."""
        if not self._authenticated(request):
            return HTMLResponse(AUTH_ERROR, status_code=401)
        login_id, code = request.path_params["login_id"], request.path_params["course_code"]
        login = self.state.logins.get(int(login_id)) if login_id.isdigit() else None
        mine = self.state.sessions_of_logins([login.id]) if login is not None else []
        session = next((ts for ts in mine if ts.course_code == code), None)
        if login is None or session is None:
            return HTMLResponse("<!DOCTYPE html><html><body><p>Course not found</p></body></html>", 404)
        name = html.escape(session.course_name)
        page = (
            f"<!DOCTYPE html><html><head><title>{name} | LearningLogin</title></head><body>"
            f'<main data-course-code="{html.escape(session.course_code)}">'
            f"<h1>{name}</h1><p>Welcome, {html.escape(login.full_name)}</p>"
            f"<p>{html.escape(session.status)}: {session.percent_complete}% complete</p></main></body></html>"
        )
        return HTMLResponse(page)

    # -- helpers --------------------------------------------------------------------------------

    def _authenticated(self, request: Request) -> bool:
        token = request.query_params.get("token", "")
        return hmac.compare_digest(token.encode(), self.controls.credential.encode())

    def _matching(self, request: Request) -> list[TrainSessionRow]:
        checks: list[tuple[Getter, Any, Predicate]] = []
        username: str | None = None
        for name, raw in request.query_params.items():
            known = self.filters.get(name)
            if known is None or not raw.strip():
                continue  # ransack ignores unknown predicates and blank values
            getter, cast, predicate = known
            wanted = cast(raw)
            if wanted is None:
                continue  # a date that does not cast drops the condition, as ransack does
            checks.append((getter, wanted, predicate))
            if name == USERNAME_FILTER:
                username = wanted
        # A username names a login or two: only their sessions can pass (every check still applies).
        candidates: Iterable[TrainSessionRow] = self.state.train_sessions.values()
        if username is not None:
            candidates = self.state.sessions_of_username(username)
        return [ts for ts in candidates if _passes(ts, checks)]

    def _render(self, ts: TrainSessionRow, *, show: bool = False) -> dict[str, Any]:
        login = self.state.logins.get(ts.login_id)
        record: dict[str, Any] = {
            "id": ts.id,
            "course_code": ts.course_code,
            "score": ts.score,
            "percent_complete": ts.percent_complete,
            "failed_attempts": ts.failed_attempts,
            "status": ts.status,
            "cert_expiry": ts.cert_expiry,
            "completion_date": ts.completion_date,
            "complete_by": ts.complete_by,
            "full_name": login.full_name if login else None,
            # Kept as the world holds it: a number, a decimal string ("0.0") or null, as the documents show.
            "time_spent": ts.time_spent,
        }
        if show:
            # The full document's show adds `success`: null until the session is completed.
            record["success"] = True if ts.status == "Completed" else None
        return record


def _passes(ts: TrainSessionRow, checks: list[tuple[Getter, Any, Predicate]]) -> bool:
    for getter, wanted, predicate in checks:
        value = getter(ts)
        if value is None or not predicate(value, wanted):
            return False  # SQL: NULL matches no comparison
    return True


def _paging_headers(request: Request, page: int, total: int) -> dict[str, str]:
    """api-pagination's headers: `first`/`prev` except on page 1, `last`/`next` before the last page."""
    last = max(1, math.ceil(total / PER_PAGE))
    links: list[tuple[str, int]] = []
    if page > 1:
        links += [("first", 1), ("prev", page - 1)]
    if page < last:
        links += [("last", last), ("next", page + 1)]
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    rendered = []
    for rel, number in links:
        # Hash#to_query sorts the parameters; the token is echoed along with the filters.
        query = urlencode(sorted([*kept, ("page", str(number))], key=lambda kv: kv[0]))
        rendered.append(f'<{request.url.replace(query=query)}>; rel="{rel}"')
    headers = {"Per-Page": str(PER_PAGE), "Total": str(total)}
    if rendered:
        headers["Link"] = ", ".join(rendered)
    return headers


async def _unassign_params(request: Request, fmt: str) -> tuple[int | None, set[str]] | Response:
    """`{"course_codes": [...], "login_id": N}`, or the full document's XML inside `<content>`."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    data: Any
    try:
        if fmt == "xml" or "xml" in content_type:
            data = _unassign_xml(raw)
        else:
            data = orjson.loads(raw) if raw.strip() else {}
    except (orjson.JSONDecodeError, ET.ParseError, ValueError):
        return _error(fmt, "There was a problem in the request body", 400)
    if not isinstance(data, dict):
        return _error(fmt, "There was a problem in the request body", 400)
    codes, login_id = data.get("course_codes"), data.get("login_id")
    # `params.require(...)`: a missing or blank parameter is a 400 with Rails' own wording.
    for name, value in (("course_codes", codes), ("login_id", login_id)):
        if value is None or value == "" or value == []:
            return _error(fmt, f"param is missing or the value is empty: {name}", 400)
    if isinstance(codes, str):
        codes = [codes]
    if not isinstance(codes, list):
        return _error(fmt, "param is missing or the value is empty: course_codes", 400)
    login = login_id if isinstance(login_id, int) and not isinstance(login_id, bool) else None
    if isinstance(login_id, str) and login_id.strip().isdigit():
        login = int(login_id)
    return login, {str(code) for code in codes}


def _unassign_xml(raw: bytes) -> dict[str, Any]:
    root = ET.fromstring(raw)
    if root.tag != "content":
        raise ValueError("parameters go inside <content>")
    codes = root.find("course-codes")
    login = root.find("login-id")
    return {
        "course_codes": [c.text or "" for c in codes.findall("course-code")] if codes is not None else None,
        "login_id": (login.text or "").strip() if login is not None else None,
    }


async def _not_found(request: Request) -> Response:
    return _error(_format(request), "Not Found", 404)


def create_app(world: World, controls: SandboxControls) -> ASGIApp:
    api = LearningLoginApi(world.learninglogin, controls)
    app = Starlette(
        routes=[
            Route("/train_sessions", api.index, methods=["GET"]),
            Route("/train_sessions.json", api.index, methods=["GET"]),
            Route("/train_sessions.xml", api.index, methods=["GET"]),
            Route("/train_sessions/unassign", api.unassign, methods=["POST"]),
            Route("/train_sessions/unassign.json", api.unassign, methods=["POST"]),
            Route("/train_sessions/unassign.xml", api.unassign, methods=["POST"]),
            Route("/train_sessions/{ident}", api.show, methods=["GET"]),
            Route("/train_sessions/{login_id}/{course_code}", api.player, methods=["GET"]),
            Route("/{path:path}", _not_found, methods=METHODS),
        ]
    )
    return ControlsMiddleware(app, controls, _error_body)
