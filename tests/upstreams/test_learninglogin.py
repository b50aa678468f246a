"""The LEARNINGLOGIN connector against the LEARNINGLOGIN sandbox: every method, paging across
pages, filters, the unassign writes and the state they leave, errors, the path guard, retries;
then the connector's tolerance of odd upstream answers and the error decoder on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from gateway.errors import (
    InvalidNativeId,
    UpstreamForbidden,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.sources import Source
from gateway.upstreams.learninglogin.client import LearningLoginClient
from gateway.upstreams.learninglogin.errors import decode_learninglogin_error
from gateway.upstreams.learninglogin.records import (
    NO_MATCHING_TRAIN_SESSIONS,
    TrainSession,
    TrainSessionFilters,
)
from sandbox.controls import RequestLog
from sandbox.server import CREDENTIALS, MOUNTS, Sandbox
from sandbox.world import LearningLoginState

TOKEN = CREDENTIALS[Source.LEARNINGLOGIN]


@pytest.fixture
async def client(connect: Callable[..., LearningLoginClient]) -> AsyncIterator[LearningLoginClient]:
    learninglogin = connect(LearningLoginClient, Source.LEARNINGLOGIN)
    yield learninglogin
    await learninglogin.aclose()


@pytest.fixture
def state(sandbox: Sandbox) -> LearningLoginState:
    return sandbox.world.learninglogin


@pytest.fixture
def log(sandbox: Sandbox) -> RequestLog:
    return sandbox.controls[Source.LEARNINGLOGIN].log


def newest_first(state: LearningLoginState, keep: Callable[[Any], bool] = lambda ts: True) -> list[int]:
    return sorted((ts.id for ts in state.train_sessions.values() if keep(ts)), reverse=True)


# -- reads ----------------------------------------------------------------------------------------


async def test_a_page_of_train_sessions_and_the_total(
    client: LearningLoginClient, state: LearningLoginState, log: RequestLog
) -> None:
    expected = newest_first(state)
    assert client.train_sessions().page_size == 64
    first = await client.train_sessions().page()
    assert [s.id for s in first.items] == expected[:64]
    assert first.total == len(expected)
    assert log.count("GET", "/train_sessions") == 1

    second = await client.train_sessions().page(page=2)
    assert [s.id for s in second.items] == expected[64:128]
    assert second.total == len(expected)
    beyond = await client.train_sessions().page(page=99)
    assert beyond.items == [] and beyond.total == len(expected)
    # The token rides in the query, never in a header.
    entry = log.entries[-1]
    assert parse_qs(entry.query)["token"] == [TOKEN] and parse_qs(entry.query)["page"] == ["99"]
    with pytest.raises(ValueError):
        await client.train_sessions().page(page=0)


async def test_records_are_typed_from_the_seeds_shapes(
    client: LearningLoginClient, state: LearningLoginState
) -> None:
    sessions = [s async for s in client.train_sessions().iterate()]
    by_id = {s.id: s for s in sessions}
    for record in sessions:
        ts = state.train_sessions[record.id]
        assert record.course_code == ts.course_code and record.status == ts.status
        assert record.score == ts.score and isinstance(record.score, float)
        assert record.percent_complete == ts.percent_complete and record.failed_attempts == ts.failed_attempts
        assert (record.cert_expiry, record.completion_date, record.complete_by) == (
            ts.cert_expiry,
            ts.completion_date,
            ts.complete_by,
        )
        assert record.full_name == state.logins[ts.login_id].full_name
        assert record.success is None  # the list does not send it
    # time_spent arrives as a number, a decimal string or null; all become float | None.
    shapes: dict[type, TrainSession] = {}
    for ts in state.train_sessions.values():
        shapes.setdefault(type(ts.time_spent), by_id[ts.id])
    assert set(shapes) == {int, float, str, type(None)}
    for shape, record in shapes.items():
        raw = state.train_sessions[record.id].time_spent
        assert record.time_spent == (None if raw is None else float(raw)), shape
        assert record.time_spent is None or isinstance(record.time_spent, float)


async def test_iterating_train_sessions_follows_the_link_header_across_pages(
    client: LearningLoginClient, state: LearningLoginState, log: RequestLog
) -> None:
    expected = newest_first(state)
    assert len(expected) > 64
    assert [s.id async for s in client.train_sessions().iterate()] == expected
    assert log.count("GET") == 2
    # The second request is the link the upstream gave, with our token re-applied.
    assert log.entries[1].path == "/train_sessions"
    assert parse_qs(log.entries[1].query) == {"page": ["2"], "token": [TOKEN]}


async def test_filters_are_sent_as_the_seeds_parameters_and_combine(
    client: LearningLoginClient, state: LearningLoginState, log: RequestLog
) -> None:
    filters = TrainSessionFilters(score_eq=80, completion_date_gteq=date(2025, 1, 1))
    expected = newest_first(
        state, lambda ts: ts.score == 80 and ts.completion_date and ts.completion_date >= date(2025, 1, 1)
    )
    assert expected
    listing = await client.train_sessions(filters).page()
    assert [s.id for s in listing.items] == expected and listing.total == len(expected)
    assert parse_qs(log.entries[-1].query) == {
        "score_eq": ["80"],
        "completion_date_gteq": ["2025-01-01"],
        "token": [TOKEN],
    }

    login = list(state.logins.values())[2]
    mine = TrainSessionFilters(assignee_login_username_eq=login.username)
    assert [s.id async for s in client.train_sessions(mine).iterate()] == newest_first(
        state, lambda ts: ts.login_id == login.id
    )
    code = "FP"
    both = TrainSessionFilters(course_code_or_course_name_cont=code.lower(), failed_attempts_eq=0)
    assert [s.id async for s in client.train_sessions(both).iterate()] == newest_first(
        state, lambda ts: ts.course_code == code and ts.failed_attempts == 0
    )


async def test_filters_across_pages_keep_the_filters(
    client: LearningLoginClient, state: LearningLoginState, log: RequestLog
) -> None:
    filters = TrainSessionFilters(full_name_cont="a")
    expected = newest_first(state, lambda ts: "a" in state.logins[ts.login_id].full_name.lower())
    assert len(expected) > 64
    assert [s.id async for s in client.train_sessions(filters).iterate()] == expected
    assert [parse_qs(e.query)["full_name_cont"] for e in log.entries] == [["a"], ["a"]]


def test_filters_to_params() -> None:
    assert TrainSessionFilters().to_params() == {}
    every = TrainSessionFilters(
        course_code_or_course_name_cont="WHMIS",
        full_name_cont="Dragstra",
        score_eq=80.0,
        completion_date_gteq=date(2015, 1, 1),
        completion_date_lteq=datetime(2015, 12, 31, 23, 59),
        cert_expiry_gt=date(2016, 1, 1),
        cert_expiry_lt=date(2016, 12, 31),
        percent_complete_eq=37.5,
        complete_by_eq=date(2016, 2, 6),
        last_attempt_eq=date(2016, 2, 5),
        assignee_login_username_eq="mdragstra",
        failed_attempts_eq=0,
        unit_unit_expiry_gt=date(2017, 1, 1),
        unit_unit_expiry_lt=date(2018, 1, 1),
    )
    assert every.to_params() == {
        "course_code_or_course_name_cont": "WHMIS",
        "full_name_cont": "Dragstra",
        "score_eq": "80",
        "completion_date_gteq": "2015-01-01",
        "completion_date_lteq": "2015-12-31",
        "cert_expiry_gt": "2016-01-01",
        "cert_expiry_lt": "2016-12-31",
        "percent_complete_eq": "37.5",
        "complete_by_eq": "2016-02-06",
        "last_attempt_eq": "2016-02-05",
        "assignee_login_username_eq": "mdragstra",
        "failed_attempts_eq": "0",
        "unit_unit_expiry_gt": "2017-01-01",
        "unit_unit_expiry_lt": "2018-01-01",
    }
    with pytest.raises(AttributeError):
        every.score_eq = 1  # type: ignore[misc]


async def test_get_train_session(client: LearningLoginClient, state: LearningLoginState) -> None:
    done = next(ts for ts in state.train_sessions.values() if ts.status == "Completed")
    session = await client.get_train_session(done.id)
    assert session.id == done.id and session.success is True
    assert session.completion_date == done.completion_date and session.course_code == done.course_code
    todo = next(ts for ts in state.train_sessions.values() if ts.status == "Assigned")
    # Loaders hand over ids as strings.
    assert (await client.get_train_session(str(todo.id))).success is None
    with pytest.raises(UpstreamNotFound):
        await client.get_train_session(999_999)


async def test_ids_are_checked_before_any_request(client: LearningLoginClient, log: RequestLog) -> None:
    for bad in ("1/../../logins", "../1", "1?token=x", "1.xml", "", "-1", "1 "):
        with pytest.raises(InvalidNativeId):
            await client.get_train_session(bad)
    with pytest.raises(InvalidNativeId):
        await client.unassign_courses("500&login_id=501", ["FP"])
    with pytest.raises(InvalidNativeId):
        await client.unassign_train_sessions([1, "2&ids[]=3"])
    assert log.entries == []


# -- unassign ------------------------------------------------------------------------------------


async def test_unassign_courses_removes_the_logins_sessions(
    client: LearningLoginClient, state: LearningLoginState, log: RequestLog
) -> None:
    login_id = next(iter(state.logins))
    mine = {ts.course_code: ts.id for ts in state.train_sessions.values() if ts.login_id == login_id}
    gone, kept = sorted(mine)[:2]
    before = len(state.train_sessions)
    await client.unassign_courses(login_id, [gone])
    assert mine[gone] not in state.train_sessions and mine[kept] in state.train_sessions
    assert len(state.train_sessions) == before - 1
    entry = log.entries[-1]
    assert (entry.method, entry.path) == ("POST", "/train_sessions/unassign")
    assert parse_qs(entry.query) == {"token": [TOKEN]}
    assert TOKEN.encode() not in entry.body

    # The documented 200-with-text "nothing matched" is a failure, not a success.
    with pytest.raises(UpstreamNotFound) as caught:
        await client.unassign_courses(login_id, [gone])
    assert caught.value.upstream_code == NO_MATCHING_TRAIN_SESSIONS
    assert caught.value.status_code == 200
    assert len(state.train_sessions) == before - 1


async def test_unassign_train_sessions_by_id(
    client: LearningLoginClient, state: LearningLoginState, log: RequestLog
) -> None:
    first, second, kept = sorted(state.train_sessions)[:3]
    await client.unassign_train_sessions([first, str(second)])
    assert first not in state.train_sessions and second not in state.train_sessions
    assert kept in state.train_sessions
    # The short document's own form, `ids=[1,2]` (LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM's default).
    assert parse_qs(log.entries[-1].query) == {"ids": [f"[{first},{second}]"], "token": [TOKEN]}
    with pytest.raises(UpstreamNotFound) as caught:
        await client.unassign_train_sessions([first])
    assert caught.value.upstream_code == NO_MATCHING_TRAIN_SESSIONS


async def test_unassign_refuses_empty_or_bare_string_input(
    client: LearningLoginClient, log: RequestLog
) -> None:
    with pytest.raises(ValueError):
        await client.unassign_courses(500, [])
    with pytest.raises(TypeError):
        await client.unassign_courses(500, "FP")
    with pytest.raises(ValueError):
        await client.unassign_train_sessions([])
    assert log.entries == []


# -- errors, retries ------------------------------------------------------------------------------


async def test_a_bad_token_is_unauthorized_and_never_shown(
    connect: Callable[..., LearningLoginClient], state: LearningLoginState
) -> None:
    wrong = "wrong-token-3f9a"
    client = connect(LearningLoginClient, Source.LEARNINGLOGIN, secret=SecretStr(wrong))
    before = dict(state.train_sessions)
    try:
        for call in (
            client.train_sessions().page(),
            client.get_train_session(1),
            client.unassign_courses(500, ["FP"]),
            client.unassign_train_sessions([1]),
        ):
            with pytest.raises(UpstreamUnauthorized) as caught:
                await call
            exc = caught.value
            assert exc.status_code == 401 and exc.extensions()["source"] == "LEARNINGLOGIN"
            for shown in (str(exc), repr(exc), exc.message, str(exc.args)):
                assert wrong not in shown and TOKEN not in shown
        with pytest.raises(UpstreamUnauthorized):
            [s async for s in client.train_sessions().iterate()]
    finally:
        await client.aclose()
    assert state.train_sessions == before


async def test_reads_retry_injected_failures(
    client: LearningLoginClient, sandbox: Sandbox, log: RequestLog, state: LearningLoginState
) -> None:
    faults = sandbox.controls[Source.LEARNINGLOGIN].faults
    faults.fail_next = 2
    assert len((await client.train_sessions().page()).items) == 64
    assert log.count("GET") == 3
    log.clear()
    faults.fail_next = 1
    assert (await client.get_train_session(1)).id == 1
    assert log.count("GET") == 2
    log.clear()
    # A failure on the second page is retried too; the iteration still yields every session once.
    faults.fail_next = 0
    seen: list[int] = []
    async for session in client.train_sessions().iterate():
        seen.append(session.id)
        if len(seen) == 1:
            faults.fail_next = 1
    assert seen == newest_first(state) and log.count("GET") == 3
    faults.fail_next = 3  # more failures than attempts: the read gives up
    with pytest.raises(UpstreamUnavailable):
        await client.train_sessions().page()


async def test_the_unassign_write_is_never_retried(
    client: LearningLoginClient, sandbox: Sandbox, log: RequestLog, state: LearningLoginState
) -> None:
    faults = sandbox.controls[Source.LEARNINGLOGIN].faults
    login_id = next(iter(state.logins))
    code = next(ts.course_code for ts in state.train_sessions.values() if ts.login_id == login_id)
    before = dict(state.train_sessions)
    calls: list[Callable[[], Awaitable[None]]] = [
        lambda: client.unassign_courses(login_id, [code]),
        lambda: client.unassign_train_sessions([1]),
    ]
    for call in calls:
        log.clear()
        faults.fail_next = 1
        with pytest.raises(UpstreamUnavailable):
            await call()
        assert log.count("POST") == 1
    assert state.train_sessions == before


async def test_paging_over_a_real_socket(sandbox_address: str, state: LearningLoginState) -> None:
    # The Link URLs are built from the Host the server saw; they must lead back to it.
    client = LearningLoginClient.connect(
        sandbox_address + MOUNTS[Source.LEARNINGLOGIN], secret=SecretStr(TOKEN), retry_wait_seconds=0.0
    )
    try:
        assert [s.id async for s in client.train_sessions().iterate()] == newest_first(state)
    finally:
        await client.aclose()


# -- tolerance: odd upstream answers --------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def odd_upstream(handler: Handler, **kwargs: Any) -> LearningLoginClient:
    return LearningLoginClient.connect(
        "https://ll.test/api",
        secret=SecretStr("odd-token"),
        transport=httpx.MockTransport(handler),
        retry_wait_seconds=0.0,
        **kwargs,
    )


def session(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": n, "course_code": "FP", **fields}


async def test_link_with_only_next_no_total_and_short_pages() -> None:
    pages = {
        "1": (
            [session(5), session(4)],
            {"Link": '<https://ll.test/api/train_sessions.json?page=2&token=stale>; rel="next"'},
        ),
        # A relative link, and no Total header anywhere.
        "2": ([session(3)], {"Link": '</api/train_sessions.json?page=3>; rel="next"'}),
        "3": ([session(2), session(1)], {}),
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body, headers = pages[request.url.params.get("page", "1")]
        return httpx.Response(200, json=body, headers=headers)

    client = odd_upstream(handler)
    try:
        assert [s.id async for s in client.train_sessions(TrainSessionFilters(score_eq=80)).iterate()] == [
            5,
            4,
            3,
            2,
            1,
        ]
        # Our token replaces the one the link carried.
        assert [r.url.params.get_list("token") for r in seen] == [["odd-token"]] * 3
        assert seen[0].url.params["score_eq"] == "80"
        listing = await client.train_sessions().page(page=3)
        assert [s.id for s in listing.items] == [2, 1] and listing.total is None
    finally:
        await client.aclose()


async def test_an_empty_page_ends_the_listing_and_a_bare_array_is_read() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "2":
            return httpx.Response(
                200, json=[], headers={"Link": '<https://ll.test/api/t?page=3>; rel="next"'}
            )
        headers = {"Link": '<https://ll.test/api/train_sessions?page=2>; rel="next"', "Total": "1"}
        return httpx.Response(200, json=[session(7, time_spent="12.50", score="80.0")], headers=headers)

    client = odd_upstream(handler)
    try:
        sessions = [s async for s in client.train_sessions().iterate()]
        assert [(s.id, s.time_spent, s.score) for s in sessions] == [(7, 12.5, 80.0)]
    finally:
        await client.aclose()


async def test_a_link_to_another_origin_is_not_followed() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(
            200, json=[session(1)], headers={"Link": '<https://evil.test/api/x?page=2>; rel="next"'}
        )

    client = odd_upstream(handler)
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            [s async for s in client.train_sessions().iterate()]
        assert "odd-token" not in str(caught.value)
        assert hosts == ["ll.test"]
    finally:
        await client.aclose()


async def test_a_next_link_to_the_same_page_is_not_followed_forever() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        link = '<https://ll.test/api/train_sessions?page=2&token=odd-token>; rel="next"'
        # (Gives up linking after a few pages, so a broken guard fails the test instead of hanging it.)
        return httpx.Response(200, json=[session(calls)], headers={"Link": link} if calls < 5 else {})

    client = odd_upstream(handler)
    try:
        with pytest.raises(UpstreamMalformedResponse):
            [s async for s in client.train_sessions().iterate()]
        assert calls == 2
    finally:
        await client.aclose()


async def test_html_or_text_where_json_was_expected_is_malformed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, text="<html>Maintenance</html>")
        return httpx.Response(200, html="<html><body>Welcome</body></html>")

    client = odd_upstream(handler)
    try:
        with pytest.raises(UpstreamMalformedResponse):
            await client.get_train_session(1)
        with pytest.raises(UpstreamMalformedResponse):
            await client.train_sessions().page()
        # A write answered with unknown text: the outcome is unknown, so it is not a success.
        with pytest.raises(UpstreamMalformedResponse):
            await client.unassign_courses(1, ["FP"])
    finally:
        await client.aclose()


async def test_an_echoed_token_is_redacted_from_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422, json={"error": f"token odd-token cannot unassign {request.url.params['token']}"}
        )

    client = odd_upstream(handler)
    try:
        with pytest.raises(UpstreamRejected) as caught:
            await client.unassign_train_sessions([1])
        assert "odd-token" not in str(caught.value) and "[redacted]" in str(caught.value)
    finally:
        await client.aclose()


# -- the error decoder ---------------------------------------------------------------------------


def answer(status: int, method: str = "GET", **kwargs: Any) -> tuple[httpx.Response, Any]:
    response = httpx.Response(
        status, request=httpx.Request(method, "https://ll.test/api/train_sessions"), **kwargs
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    return response, body


@pytest.mark.parametrize(
    ("status", "method", "kwargs", "expected", "code"),
    [
        (
            200,
            "POST",
            {"text": "Could not find any corresponding train sessions."},
            UpstreamNotFound,
            NO_MATCHING_TRAIN_SESSIONS,
        ),
        (
            200,
            "POST",
            {"text": "Could not find any corresponding train sessions.\n"},
            UpstreamNotFound,
            NO_MATCHING_TRAIN_SESSIONS,
        ),
        (401, "GET", {"json": {"error": "Authentication error"}}, UpstreamUnauthorized, None),
        (401, "GET", {"text": "Authentication error"}, UpstreamUnauthorized, None),
        (200, "GET", {"text": "Authentication error"}, UpstreamUnauthorized, None),
        (403, "GET", {"json": {"error": "Forbidden"}}, UpstreamForbidden, None),
        (404, "GET", {"json": {"error": "Not Found"}}, UpstreamNotFound, None),
        (
            404,
            "GET",
            {"html": "<h1>The page you were looking for doesn't exist.</h1>"},
            UpstreamNotFound,
            None,
        ),
        (
            400,
            "POST",
            {"json": {"error": "param is missing or the value is empty: login_id"}},
            UpstreamRejected,
            None,
        ),
        (500, "GET", {"json": {"error": "Internal Server Error"}}, UpstreamUnavailable, None),
        (200, "POST", {"text": "Done!"}, UpstreamMalformedResponse, None),
    ],
)
def test_decoder(status: int, method: str, kwargs: dict[str, Any], expected: type, code: str | None) -> None:
    response, body = answer(status, method, **kwargs)
    error = decode_learninglogin_error(Source.LEARNINGLOGIN, response, body)
    assert type(error) is expected
    assert error is not None and error.upstream_code == code and error.source == "learninglogin"


def test_decoder_lets_successes_through() -> None:
    for status, method, kwargs in (
        (200, "GET", {"json": [{"id": 1}]}),
        (200, "GET", {"json": {"id": 1}}),
        (200, "POST", {"content": b""}),
        (200, "POST", {"json": {}}),
    ):
        response, body = answer(status, method, **kwargs)
        assert decode_learninglogin_error(Source.LEARNINGLOGIN, response, body) is None
