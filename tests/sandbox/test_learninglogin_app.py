"""The LEARNINGLOGIN sandbox app, spoken to as the documented API: plain HTTP requests, no connector."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from gateway.sources import Source
from sandbox.server import CREDENTIALS, Sandbox
from sandbox.world import LearningLoginLoginRow, LearningLoginState, TrainSessionRow

BASE = "http://sandbox.test/learninglogin/api"
TOKEN = CREDENTIALS[Source.LEARNINGLOGIN]
PER_PAGE = 64
NOTHING_MATCHED = "Could not find any corresponding train sessions."
SEED_KEYS = [
    "id",
    "course_code",
    "score",
    "percent_complete",
    "failed_attempts",
    "status",
    "cert_expiry",
    "completion_date",
    "complete_by",
    "full_name",
    "time_spent",
]


@pytest.fixture
async def api(sandbox_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=sandbox_transport, base_url=BASE) as client:
        yield client


@pytest.fixture
def state(sandbox: Sandbox) -> LearningLoginState:
    return sandbox.world.learninglogin


def authed(**params: Any) -> dict[str, Any]:
    return {"token": TOKEN, **params}


def newest_first(sessions: Any) -> list[int]:
    return sorted((ts.id for ts in sessions), reverse=True)


async def all_ids(api: httpx.AsyncClient, **params: Any) -> list[int]:
    """Every id a filtered listing answers, over all of its pages."""
    ids: list[int] = []
    page = 1
    while True:
        response = await api.get("/train_sessions", params=authed(page=page, **params))
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [record["id"] for record in body]
        if "next" not in response.links:
            return ids
        page += 1


def links(response: httpx.Response) -> dict[str | None, dict[str, list[str]]]:
    """rel -> the query of its URL, parsed."""
    return {rel: parse_qs(urlsplit(link["url"]).query) for rel, link in response.links.items()}


# -- auth and faults ------------------------------------------------------------------------------


async def test_a_missing_or_wrong_token_answers_401_on_every_endpoint(api: httpx.AsyncClient) -> None:
    for params in ({}, {"token": ""}, {"token": "not-the-token"}, {"token": TOKEN.upper()}):
        for response in (
            await api.get("/train_sessions", params=params),
            await api.get("/train_sessions.json", params=params),
            await api.get("/train_sessions/1", params=params),
            await api.post(
                "/train_sessions/unassign", params=params, json={"course_codes": ["FP"], "login_id": 500}
            ),
            await api.post("/train_sessions/unassign", params={**params, "ids": "[1]"}),
        ):
            assert response.status_code == 401, response.request.url
            assert response.json() == {"error": "Authentication error"}
    xml = await api.get("/train_sessions.xml", params={"token": "nope"})
    assert xml.status_code == 401
    assert ET.fromstring(xml.content).findtext("error") == "Authentication error"
    # The token is a query parameter, nothing else: a header does not authenticate.
    header = await api.get("/train_sessions", headers={"Authorization": f"Bearer {TOKEN}"})
    assert header.status_code == 401


async def test_a_rejected_unassign_changes_nothing(api: httpx.AsyncClient, state: LearningLoginState) -> None:
    before = dict(state.train_sessions)
    await api.post("/train_sessions/unassign", params={"token": "x", "ids[]": list(map(str, before))})
    assert state.train_sessions == before


async def test_injected_faults_answer_a_plain_json_500(api: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.controls[Source.LEARNINGLOGIN].faults.fail_next = 1
    response = await api.get("/train_sessions", params=authed())
    assert response.status_code == 500
    assert response.json() == {"error": "Internal Server Error"}
    assert (await api.get("/train_sessions", params=authed())).status_code == 200


async def test_unknown_paths_and_ids_answer_404(api: httpx.AsyncClient) -> None:
    for path in ("/train_sessions/99999", "/train_sessions/abc", "/train_sessions/1.2", "/logins"):
        response = await api.get(path, params=authed())
        assert response.status_code == 404, path
        assert response.json() == {"error": "Not Found"}
    xml = await api.get("/train_sessions/99999.xml", params=authed())
    assert xml.status_code == 404 and ET.fromstring(xml.content).findtext("error") == "Not Found"
    # `unassign` is not a train session id.
    assert (await api.get("/train_sessions/unassign", params=authed())).status_code == 404


# -- listing, paging ------------------------------------------------------------------------------


async def test_the_list_is_newest_first_64_a_page_with_the_seeds_headers(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    expected = newest_first(state.train_sessions.values())
    assert len(expected) > PER_PAGE, "the seeded world spans pages"
    last = math.ceil(len(expected) / PER_PAGE)

    first = await api.get("/train_sessions", params=authed())
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert [r["id"] for r in first.json()] == expected[:PER_PAGE]
    assert first.headers["Per-Page"] == "64"
    assert first.headers["Total"] == str(len(expected))
    # On page 1 only the forward links; the URLs are absolute and keep the token.
    assert set(first.links) == {"next", "last"}
    assert first.links["next"]["url"].startswith(BASE + "/train_sessions?")
    assert links(first)["next"] == {"page": ["2"], "token": [TOKEN]}
    assert links(first)["last"]["page"] == [str(last)]

    second = await api.get(first.links["next"]["url"])
    assert [r["id"] for r in second.json()] == expected[PER_PAGE : 2 * PER_PAGE]
    assert links(second)["first"]["page"] == ["1"] and links(second)["prev"]["page"] == ["1"]
    if last == 2:
        assert set(second.links) == {"first", "prev"}

    beyond = await api.get("/train_sessions", params=authed(page=last + 5))
    assert beyond.status_code == 200 and beyond.json() == []
    assert beyond.headers["Total"] == str(len(expected))
    # Rails' to_i: a bad page number is page 1.
    for bad in ("0", "-3", "two"):
        response = await api.get("/train_sessions", params=authed(page=bad))
        assert [r["id"] for r in response.json()] == expected[:PER_PAGE]


async def test_link_urls_echo_the_filters_and_keep_the_requested_format(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    named = [ts for ts in state.train_sessions.values() if "a" in state.logins[ts.login_id].full_name.lower()]
    assert len(named) > PER_PAGE
    params = authed(full_name_cont="A", status_ignored="yes")
    response = await api.get("/train_sessions.json", params=params)
    assert response.headers["Total"] == str(len(named))
    following = response.links["next"]["url"]
    assert following.startswith(BASE + "/train_sessions.json?")
    # Sorted as Rails' Hash#to_query sorts them.
    assert urlsplit(following).query == (f"full_name_cont=A&page=2&status_ignored=yes&token={TOKEN}")
    rest = await api.get(following)
    assert [r["id"] for r in response.json() + rest.json()] == newest_first(named)


async def test_a_single_page_has_no_link_header(api: httpx.AsyncClient, state: LearningLoginState) -> None:
    login = next(iter(state.logins.values()))
    response = await api.get("/train_sessions", params=authed(assignee_login_username_eq=login.username))
    assert "Link" not in response.headers
    assert response.headers["Total"] == str(len(response.json())) != "0"
    assert response.headers["Per-Page"] == "64"


async def test_records_have_the_seeds_fields_and_shapes(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    body = (await api.get("/train_sessions", params=authed())).json()
    body += (await api.get("/train_sessions", params=authed(page=2))).json()
    by_id = {record["id"]: record for record in body}
    assert len(by_id) == len(state.train_sessions)
    for record in body:
        assert list(record) == SEED_KEYS
        ts = state.train_sessions[record["id"]]
        assert record["course_code"] == ts.course_code
        assert (record["score"], record["percent_complete"], record["failed_attempts"]) == (
            ts.score,
            ts.percent_complete,
            ts.failed_attempts,
        )
        assert record["full_name"] == state.logins[ts.login_id].full_name
        for key in ("cert_expiry", "completion_date", "complete_by"):
            value = getattr(ts, key)
            assert record[key] == (value.isoformat() if value else None), key
        # time_spent keeps its shape: a number, a decimal string or null.
        assert record["time_spent"] == ts.time_spent and type(record["time_spent"]) is type(ts.time_spent)
    shapes = {type(record["time_spent"]) for record in body}
    assert shapes >= {str, float, int, type(None)}


# -- filters --------------------------------------------------------------------------------------


FilterCase = tuple[
    str, Callable[[LearningLoginState], str], Callable[[LearningLoginState, TrainSessionRow, str], bool]
]


def _username(state: LearningLoginState, ts: TrainSessionRow) -> str:
    return state.logins[ts.login_id].username


def _day(value: str) -> date:
    return date.fromisoformat(value)


def _some(state: LearningLoginState, attribute: str) -> str:
    values = sorted({getattr(ts, attribute) for ts in state.train_sessions.values()} - {None})
    return str(values[len(values) // 2])


FILTERS: list[FilterCase] = [
    (
        "course_code_or_course_name_cont",
        lambda s: "safety",  # matches course names ("Forklift Safety"), case-insensitively
        lambda s, ts, v: v in f"{ts.course_code} {ts.course_name}".lower(),
    ),
    ("course_code_or_course_name_cont", lambda s: "fp", lambda s, ts, v: ts.course_code == "FP"),
    (
        "full_name_cont",
        lambda s: next(iter(s.logins.values())).full_name.split()[1].upper(),
        lambda s, ts, v: v.lower() in s.logins[ts.login_id].full_name.lower(),
    ),
    ("score_eq", lambda s: "80", lambda s, ts, v: ts.score == 80),
    ("percent_complete_eq", lambda s: "100", lambda s, ts, v: ts.percent_complete == 100),
    ("failed_attempts_eq", lambda s: "2", lambda s, ts, v: ts.failed_attempts == 2),
    (
        "completion_date_gteq",
        lambda s: _some(s, "completion_date"),
        lambda s, ts, v: ts.completion_date is not None and ts.completion_date >= _day(v),
    ),
    (
        "completion_date_lteq",
        lambda s: _some(s, "completion_date"),
        lambda s, ts, v: ts.completion_date is not None and ts.completion_date <= _day(v),
    ),
    # The full document: cert_expiry_gt is "greater or equal", cert_expiry_lt "less than or equal".
    (
        "cert_expiry_gt",
        lambda s: _some(s, "cert_expiry"),
        lambda s, ts, v: ts.cert_expiry is not None and ts.cert_expiry >= _day(v),
    ),
    (
        "cert_expiry_lt",
        lambda s: _some(s, "cert_expiry"),
        lambda s, ts, v: ts.cert_expiry is not None and ts.cert_expiry <= _day(v),
    ),
    ("complete_by_eq", lambda s: _some(s, "complete_by"), lambda s, ts, v: str(ts.complete_by) == v),
    ("last_attempt_eq", lambda s: _some(s, "last_attempt"), lambda s, ts, v: str(ts.last_attempt) == v),
    (
        "assignee_login_username_eq",
        lambda s: list(s.logins.values())[3].username,
        lambda s, ts, v: _username(s, ts) == v,
    ),
]


@pytest.mark.parametrize(
    ("name", "value_of", "keeps"), FILTERS, ids=[f"{c[0]}-{n}" for n, c in enumerate(FILTERS)]
)
async def test_each_filter(
    api: httpx.AsyncClient,
    state: LearningLoginState,
    name: str,
    value_of: Callable[[LearningLoginState], str],
    keeps: Callable[[LearningLoginState, TrainSessionRow, str], bool],
) -> None:
    value = value_of(state)
    expected = newest_first(ts for ts in state.train_sessions.values() if keeps(state, ts, value))
    assert 0 < len(expected) < len(state.train_sessions), f"{name}={value} must narrow the list"
    assert await all_ids(api, **{name: value}) == expected


async def test_the_cert_expiry_bounds_are_inclusive(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    day = _some(state, "cert_expiry")
    on_the_day = newest_first(ts for ts in state.train_sessions.values() if str(ts.cert_expiry) == day)
    assert on_the_day
    assert await all_ids(api, cert_expiry_gt=day, cert_expiry_lt=day) == on_the_day


async def test_unit_expiry_filters_go_through_the_unit(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    sessions = sorted(state.train_sessions.values(), key=lambda ts: ts.id)
    anchor = date(2027, 1, 1)
    for offset, ts in zip((-1, 0, 1), sessions[:3], strict=True):
        ts.unit_expiry = anchor + timedelta(days=offset)
    ids = [ts.id for ts in sessions[:3]]
    # "after" / "before": strict, and sessions without a unit expiry never match.
    assert await all_ids(api, unit_unit_expiry_gt="2027-01-01") == [ids[2]]
    assert await all_ids(api, unit_unit_expiry_lt="2027-01-01") == [ids[0]]
    assert await all_ids(api, unit_unit_expiry_gt="2026-12-30", unit_unit_expiry_lt="2027-01-03") == sorted(
        ids, reverse=True
    )


async def test_filters_combine_and_blank_or_unknown_ones_are_ignored(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    everything = newest_first(state.train_sessions.values())
    assert await all_ids(api, full_name_cont="", score_eq="", nonsense_eq="1") == everything
    # A date that does not parse drops its condition, as ransack drops uncastable values.
    assert await all_ids(api, completion_date_gteq="not-a-date") == everything
    combined = newest_first(
        ts
        for ts in state.train_sessions.values()
        if ts.score == 80 and ts.completion_date is not None and ts.completion_date >= date(2025, 1, 1)
    )
    assert combined
    assert await all_ids(api, score_eq="80", completion_date_gteq="2025-01-01") == combined
    assert await all_ids(api, score_eq="80", full_name_cont="no such person") == []


# -- XML ------------------------------------------------------------------------------------------


async def test_the_xml_list_has_the_seeds_shape(api: httpx.AsyncClient, state: LearningLoginState) -> None:
    response = await api.get("/train_sessions.xml", params=authed())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert response.headers["Total"] == str(len(state.train_sessions))
    assert response.links["next"]["url"].startswith(BASE + "/train_sessions.xml?")
    root = ET.fromstring(response.content)
    assert root.tag == "train-sessions" and root.get("type") == "array"
    items = root.findall("train-session")
    assert [int(e.findtext("id") or 0) for e in items] == newest_first(state.train_sessions.values())[
        :PER_PAGE
    ]
    for element in items:
        assert [child.tag for child in element] == [key.replace("_", "-") for key in SEED_KEYS]
        ts = state.train_sessions[int(element.findtext("id") or 0)]
        assert element.find("id").get("type") == "integer"  # type: ignore[union-attr]
        assert element.find("score").get("type") == "integer"  # type: ignore[union-attr]
        assert element.findtext("course-code") == ts.course_code
        cert = element.find("cert-expiry")
        assert cert is not None
        if ts.cert_expiry is None:
            assert cert.attrib == {"nil": "true"} and not cert.text
        else:
            assert cert.attrib == {"type": "date"} and cert.text == ts.cert_expiry.isoformat()
        spent = element.find("time-spent")
        assert spent is not None
        if ts.time_spent is None:
            assert spent.attrib == {"nil": "true"}
        else:
            assert spent.get("type") == "decimal" and float(spent.text or "") == float(ts.time_spent)
    # The full document leaves completion-date untyped.
    done = next(e for e in items if e.findtext("completion-date"))
    assert done.find("completion-date").attrib == {}  # type: ignore[union-attr]

    filtered = ET.fromstring((await api.get("/train_sessions.xml", params=authed(score_eq="1"))).content)
    assert filtered.tag == "train-sessions" and list(filtered) == []


async def test_show_in_json_and_xml(api: httpx.AsyncClient, state: LearningLoginState) -> None:
    done = next(ts for ts in state.train_sessions.values() if ts.status == "Completed")
    todo = next(ts for ts in state.train_sessions.values() if ts.status == "Assigned")
    for path in (f"/train_sessions/{done.id}", f"/train_sessions/{done.id}.json"):
        body = (await api.get(path, params=authed())).json()
        assert list(body) == [*SEED_KEYS, "success"]
        assert body["id"] == done.id and body["success"] is True
        assert body["completion_date"] == done.completion_date.isoformat()  # type: ignore[union-attr]
    assert (await api.get(f"/train_sessions/{todo.id}", params=authed())).json()["success"] is None

    response = await api.get(f"/train_sessions/{todo.id}.xml", params=authed())
    root = ET.fromstring(response.content)
    assert root.tag == "train-session"
    assert root.findtext("id") == str(todo.id) and root.findtext("status") == "Assigned"
    assert root.find("success").attrib == {"nil": "true"}  # type: ignore[union-attr]
    assert root.find("completion-date").attrib == {"nil": "true"}  # type: ignore[union-attr]
    done_xml = ET.fromstring((await api.get(f"/train_sessions/{done.id}.xml", params=authed())).content)
    assert done_xml.find("success").attrib == {"type": "boolean"}  # type: ignore[union-attr]
    assert done_xml.findtext("success") == "true"


# -- unassign -------------------------------------------------------------------------------------


def sessions_of(state: LearningLoginState, login_id: int) -> dict[str, int]:
    return {ts.course_code: ts.id for ts in state.train_sessions.values() if ts.login_id == login_id}


async def test_unassign_by_course_codes(api: httpx.AsyncClient, state: LearningLoginState) -> None:
    login_id = next(iter(state.logins))
    mine = sessions_of(state, login_id)
    code, other = sorted(mine)[:2]
    other_logins = {ts.id for ts in state.train_sessions.values() if ts.login_id != login_id}

    response = await api.post(
        "/train_sessions/unassign",
        params=authed(),
        json={"course_codes": [code, "NOPE"], "login_id": login_id},
    )
    # Success: 200 with an empty body.
    assert (response.status_code, response.content) == (200, b"")
    assert mine[code] not in state.train_sessions
    assert mine[other] in state.train_sessions
    assert other_logins <= set(state.train_sessions)

    # Nothing matched (again): 200 and the full document's line of text.
    again = await api.post(
        "/train_sessions/unassign", params=authed(), json={"course_codes": [code], "login_id": login_id}
    )
    assert (again.status_code, again.text) == (200, NOTHING_MATCHED)
    assert again.headers["content-type"].startswith("text/plain")
    # The course exists, but for another login: nothing matched either.
    elsewhere = await api.post(
        "/train_sessions/unassign", params=authed(), json={"course_codes": [other], "login_id": 999_999}
    )
    assert elsewhere.text == NOTHING_MATCHED and mine[other] in state.train_sessions


async def test_unassign_needs_both_parameters(api: httpx.AsyncClient) -> None:
    for body in ({"login_id": 500}, {"course_codes": [], "login_id": 500}, {"course_codes": ["FP"]}):
        response = await api.post("/train_sessions/unassign", params=authed(), json=body)
        assert response.status_code == 400
        assert response.json()["error"].startswith("param is missing or the value is empty: ")
    broken = await api.post(
        "/train_sessions/unassign",
        params=authed(),
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 400


async def test_unassign_xml_takes_the_seeds_content_body(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    login_id = list(state.logins)[1]
    mine = sessions_of(state, login_id)
    codes = sorted(mine)[:2]
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>\n<content>\n  <course-codes type='array'>\n"
        + "".join(f"    <course-code>{c}</course-code>\n" for c in codes)
        + f"  </course-codes>\n  <login-id type='integer'>{login_id}</login-id>\n</content>"
    )
    headers = {"content-type": "application/xml"}
    response = await api.post("/train_sessions/unassign.xml", params=authed(), content=body, headers=headers)
    assert (response.status_code, response.content) == (200, b"")
    assert not {mine[c] for c in codes} & set(state.train_sessions)
    again = await api.post("/train_sessions/unassign.xml", params=authed(), content=body, headers=headers)
    assert again.text == NOTHING_MATCHED
    # Parameters outside <content> are not read.
    bare = await api.post(
        "/train_sessions/unassign.xml",
        params=authed(),
        content=f"<login-id>{login_id}</login-id>",
        headers=headers,
    )
    assert bare.status_code == 400


def ids_spellings(first: int, second: int) -> dict[str, dict[str, Any]]:
    return {
        "json-list": {"ids": f"[{first},{second}]"},
        "brackets": {"ids[]": [str(first), str(second)]},
        "commas": {"ids": f"{first}, {second}"},
    }


@pytest.mark.parametrize("form", ["json-list", "brackets"])
async def test_the_older_unassign_takes_ids_only_in_the_form_it_is_set_to(
    api: httpx.AsyncClient, state: LearningLoginState, sandbox: Sandbox, form: str
) -> None:
    sandbox.controls[Source.LEARNINGLOGIN].unassign_ids_form = form
    first, second, kept = sorted(state.train_sessions)[:3]
    spellings = ids_spellings(first, second)
    for other, params in spellings.items():
        if other == form:
            continue
        refused = await api.post("/train_sessions/unassign", params=authed(**params))
        assert refused.status_code == 400, other
        assert "ids must be sent" in refused.json()["error"]
        assert first in state.train_sessions and second in state.train_sessions
    params = spellings[form]
    response = await api.post("/train_sessions/unassign", params=authed(**params))
    assert (response.status_code, response.content) == (200, b"")
    assert first not in state.train_sessions and second not in state.train_sessions
    assert kept in state.train_sessions
    again = await api.post("/train_sessions/unassign", params=authed(**params))
    assert (again.status_code, again.text) == (200, NOTHING_MATCHED)
    if form == "json-list":
        nothing = await api.post("/train_sessions/unassign", params=authed(ids="[]"))
        assert nothing.text == NOTHING_MATCHED


# -- course player --------------------------------------------------------------------------------


async def test_the_course_player_is_a_page_guarded_by_the_token(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    ts = next(iter(state.train_sessions.values()))
    login = state.logins[ts.login_id]
    path = f"/train_sessions/{login.id}/{ts.course_code}"
    page = await api.get(path, params=authed())
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert ts.course_name in page.text and login.full_name in page.text
    denied = await api.get(path, params={"token": "wrong"})
    assert denied.status_code == 401 and "Authentication error" in denied.text
    assert (await api.get(path)).status_code == 401
    missing = await api.get(f"/train_sessions/{login.id}/NOPE", params=authed())
    assert missing.status_code == 404


# -- the world's lookups follow every write --------------------------------------------------------


async def test_a_username_listing_follows_unassigning_and_direct_changes(
    api: httpx.AsyncClient, state: LearningLoginState
) -> None:
    login = next(iter(state.logins.values()))
    mine = sessions_of(state, login.id)
    code = sorted(mine)[0]

    async def listed(username: str) -> list[int]:
        return await all_ids(api, assignee_login_username_eq=username)

    assert await listed(login.username) == sorted(mine.values(), reverse=True)
    await api.post(
        "/train_sessions/unassign", params=authed(), json={"course_codes": [code], "login_id": login.id}
    )
    assert await listed(login.username) == sorted((i for c, i in mine.items() if c != code), reverse=True)
    assert (await api.get(f"/train_sessions/{login.id}/{code}", params=authed())).status_code == 404

    # A login and its session put straight into the world, as tests do, are found by username.
    state.logins[9_001] = LearningLoginLoginRow(9_001, "ll.new.person", "New Person")
    state.train_sessions[9_001] = replace(
        state.train_sessions[mine[sorted(mine)[1]]], id=9_001, login_id=9_001
    )
    assert await listed("ll.new.person") == [9_001]
    assert (
        await api.get(f"/train_sessions/9001/{state.train_sessions[9_001].course_code}", params=authed())
    ).status_code == 200
    del state.train_sessions[9_001]
    assert await listed("ll.new.person") == []
