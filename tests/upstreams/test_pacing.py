"""Per-upstream pacing and connection limits, measured at a loopback server: MAX_RPS spreads requests
(first come first served, none refused for the rate), a 429's Retry-After pauses every request to that
upstream and then they succeed, a wait past the deadline fails at once as UPSTREAM_TIMEOUT, a caller
leaving stops the wait, MAX_CONNECTIONS caps what the server serves at once, and the settings reach the
wire for each of the four sources."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.errors import CallerGone, UpstreamDeadlineExceeded, UpstreamRateLimited
from gateway.settings import SECRET_FIELD, load_settings
from gateway.sources import Source
from gateway.upstreams.allowance import Allowance
from gateway.upstreams.auth import HeaderAuth
from gateway.upstreams.http import UpstreamHTTP
from gateway.upstreams.pacing import LONGEST_PAUSE_SECONDS, Pacer, retry_after_seconds
from gateway.upstreams.registry import Upstreams
from sandbox.server import serve_on_loopback
from tests.upstreams.inline_upstream import no_vendor_errors

# What a loaded test machine may add to a timing; every bound below leaves at least this much.
SLACK = 0.05


class Arrival(NamedTuple):
    at: float  # the server's monotonic clock (the same process, so the client's too)
    wall: float  # the server's wall clock, for an HTTP-date
    method: str
    path: str


class Recorder:
    """A loopback upstream that notes when each request arrived and how many it served at once, and
    answers the next `limit_next` requests 429 with `retry_after()` as the Retry-After."""

    def __init__(self) -> None:
        self.address = ""  # set while served on loopback
        self.arrivals: list[Arrival] = []
        self.in_flight = self.most_in_flight = 0
        self.delay = 0.0
        self.limit_next = 0
        self.retry_after: Callable[[], str] = lambda: "1"
        self.sent_retry_after: list[str] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.answer, methods=["GET", "POST"])])

    async def answer(self, request: Request) -> Response:
        self.arrivals.append(Arrival(time.monotonic(), time.time(), request.method, request.url.path))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.limit_next > 0:
                self.limit_next -= 1
                self.sent_retry_after.append(self.retry_after())
                return JSONResponse(
                    {"error": "slow down"},
                    status_code=429,
                    headers={"Retry-After": self.sent_retry_after[-1]},
                )
            return JSONResponse({"ok": True, "completedtrainings": [], "results": []})
        finally:
            self.in_flight -= 1

    def paths(self) -> list[str]:
        return [arrival.path for arrival in self.arrivals]


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    recorder = Recorder()
    async with serve_on_loopback(recorder.app) as address:
        recorder.address = address
        yield recorder


@contextlib.asynccontextmanager
async def client(recorder: Recorder, **kwargs: Any) -> AsyncIterator[UpstreamHTTP]:
    http = UpstreamHTTP(
        Source.DAMSTRA,
        f"{recorder.address}/api",
        HeaderAuth("AccessKey", SecretStr("key")),
        decode_error=no_vendor_errors,
        retry_wait_seconds=0.0,
        **kwargs,
    )
    try:
        yield http
    finally:
        await http.aclose()


def sample(name: str, source: str = "damstra") -> float:
    return REGISTRY.get_sample_value(name, {"source": source}) or 0.0


# -- MAX_RPS -----------------------------------------------------------------------------------


async def test_max_rps_spreads_requests_first_come_first_served_and_refuses_none(recorder: Recorder) -> None:
    async with client(recorder, max_rps=20) as http:
        await http.get_json("/warm")  # the connection opened: what follows is the pace alone
        waits_before = sample("learngraph_upstream_pacing_wait_seconds_count")
        answers = await asyncio.gather(*(http.get_json(f"/n/{n}") for n in range(10)))
    assert all(answer["ok"] for answer in answers)  # none failed for the pace
    assert recorder.paths()[1:] == [f"/api/n/{n}" for n in range(10)]  # in the order they were asked
    times = [arrival.at for arrival in recorder.arrivals[1:]]
    # 10 requests at 20 a second: 9 gaps of 50 ms. The last five came 250 ms after the first five, on
    # average (an average: a loaded machine delays one request, not the pace).
    assert 0.45 - 2 * SLACK <= times[-1] - times[0] <= 0.45 + 1.5
    assert sum(times[5:]) / 5 - sum(times[:5]) / 5 >= 0.25 - SLACK
    assert sample("learngraph_upstream_pacing_wait_seconds_count") - waits_before == 10


async def test_without_max_rps_nothing_waits(recorder: Recorder) -> None:
    recorder.delay = 0.3
    async with client(recorder) as http:
        assert not http.pacer.active
        await asyncio.gather(*(http.get_json(f"/n/{n}") for n in range(10)))
    assert recorder.most_in_flight == 10  # all at once: no pace, no connection limit below 100


async def test_a_wait_that_would_pass_the_deadline_fails_at_once_as_upstream_timeout(
    recorder: Recorder,
) -> None:
    loop = asyncio.get_running_loop()
    async with client(recorder, max_rps=2) as http:
        allowance = Allowance(max_requests=100, seconds=1.25)
        started = loop.time()
        finished: dict[int, float] = {}

        async def read(n: int) -> Any:
            try:
                return await http.get_json(f"/n/{n}")
            finally:
                finished[n] = loop.time() - started

        with allowance.applied():
            results = await asyncio.gather(*(read(n) for n in range(6)), return_exceptions=True)
    # Slots at 0, 0.5 and 1 s come before the 1.25 s deadline; 1.5, 2 and 2.5 would not.
    assert [isinstance(r, dict) for r in results] == [True, True, True, False, False, False]
    for refused in results[3:]:
        assert isinstance(refused, UpstreamDeadlineExceeded)
        assert refused.code == "UPSTREAM_TIMEOUT"
        assert "LEARNGRAPH_DAMSTRA_MAX_RPS" in refused.message
    assert all(finished[n] < 0.45 for n in (3, 4, 5))  # refused at once, not at the deadline
    assert recorder.paths() == ["/api/n/0", "/api/n/1", "/api/n/2"]  # the refused were never sent


async def test_a_caller_who_leaves_stops_waiting_and_nothing_is_sent_for_them(recorder: Recorder) -> None:
    async with client(recorder, max_rps=0.5) as http:
        allowance = Allowance(max_requests=100, seconds=10)
        with allowance.applied():
            first = asyncio.create_task(http.get_json("/n/0"))
            queued = asyncio.create_task(http.get_json("/n/1"))  # its slot: 2 s on
            await first
            allowance.leave()
            started = time.monotonic()
            with pytest.raises(CallerGone):
                await queued
            assert time.monotonic() - started < 1
    assert recorder.paths() == ["/api/n/0"]


# -- 429 and Retry-After -------------------------------------------------------------------------


def in_seconds(seconds: str) -> Callable[[], str]:
    return lambda: seconds


def as_http_date(seconds: float) -> Callable[[], str]:
    return lambda: email.utils.formatdate(time.time() + seconds, usegmt=True)


async def until_rate_limited(before: float) -> None:
    """Until the client has taken a 429 (its metric says so)."""
    for _ in range(500):
        if sample("learngraph_upstream_rate_limited_total") > before:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the 429 never reached the client")


@pytest.mark.parametrize("retry_after", [in_seconds("1"), as_http_date(2)], ids=["seconds", "http-date"])
async def test_a_429_with_retry_after_pauses_every_request_to_that_upstream_then_they_succeed(
    recorder: Recorder, retry_after: Callable[[], str]
) -> None:
    recorder.limit_next = 1
    recorder.retry_after = retry_after
    limited_before = sample("learngraph_upstream_rate_limited_total")
    async with client(recorder) as http:
        refused_first = asyncio.create_task(http.get_json("/first"))
        await until_rate_limited(limited_before)
        others = await asyncio.gather(*(http.get_json(f"/other/{n}") for n in range(5)))
        assert (await refused_first)["ok"] and all(answer["ok"] for answer in others)
    limited, *after = recorder.arrivals
    (header,) = recorder.sent_retry_after
    if header.isdigit():
        assert all(arrival.at >= limited.at + int(header) - SLACK for arrival in after)
    else:  # the pause ends at the date (whole seconds: 1 to 2 s on), by the wall clock
        resumes = email.utils.parsedate_to_datetime(header).timestamp()
        assert resumes >= limited.wall + 1 - SLACK
        assert all(arrival.wall >= resumes - SLACK for arrival in after)
    assert sorted(arrival.path for arrival in after) == sorted(
        ["/api/first"] + [f"/api/other/{n}" for n in range(5)]
    )
    assert sample("learngraph_upstream_rate_limited_total") == limited_before + 1


async def test_a_write_refused_429_is_not_sent_again_but_still_pauses_the_upstream(
    recorder: Recorder,
) -> None:
    recorder.limit_next = 1
    async with client(recorder) as http:
        with pytest.raises(UpstreamRateLimited) as refused:
            await http.write("POST", "/items", json={"name": "x"})
        assert getattr(refused.value, "retry_after", None) == 1
        assert (await http.get_json("/after"))["ok"]
    assert [(a.method, a.path) for a in recorder.arrivals] == [("POST", "/api/items"), ("GET", "/api/after")]
    assert recorder.arrivals[1].at - recorder.arrivals[0].at >= 1 - SLACK


async def test_a_pause_past_the_deadline_fails_the_waiting_reads_at_once(recorder: Recorder) -> None:
    recorder.limit_next = 1
    recorder.retry_after = in_seconds("30")
    async with client(recorder, retry_attempts=1) as http:
        with pytest.raises(UpstreamRateLimited):
            await http.get_json("/first")
        allowance = Allowance(max_requests=100, seconds=1.0)
        started = time.monotonic()
        with allowance.applied(), pytest.raises(UpstreamDeadlineExceeded):
            await http.get_json("/second")
        assert time.monotonic() - started < 0.5
    assert recorder.paths() == ["/api/first"]


# -- MAX_CONNECTIONS -----------------------------------------------------------------------------


async def test_max_connections_caps_what_the_server_serves_at_once(recorder: Recorder) -> None:
    recorder.delay = 0.05
    async with client(recorder, max_connections=2) as http:
        answers = await asyncio.gather(*(http.get_json(f"/n/{n}") for n in range(8)))
    assert all(answer["ok"] for answer in answers)
    assert recorder.most_in_flight == 2


# -- from the settings, for each source ------------------------------------------------------------


@pytest.mark.parametrize("source", list(Source), ids=lambda s: s.name)
async def test_each_sources_settings_reach_its_wire(recorder: Recorder, source: Source) -> None:
    name = source.slug.upper()
    settings = load_settings(
        {
            f"LEARNGRAPH_{name}_URL": f"{recorder.address}/api",
            f"LEARNGRAPH_{SECRET_FIELD[source].upper()}": "secret",
            f"LEARNGRAPH_{name}_MAX_CONNECTIONS": "2",
            f"LEARNGRAPH_{name}_MAX_RPS": "5",
        }
    )
    config = settings.source(source)
    assert config is not None and (config.max_connections, config.max_rps) == (2, 5.0)
    upstreams = Upstreams.open(settings)
    try:
        http = upstreams.client(source).http
        await http.get_json("/warm")  # the session made (its TLS context alone takes 50 ms or more)
        recorder.delay = 0.5  # at 5 a second, three would overlap without the connection limit
        await asyncio.gather(*(http.get_json(f"/n/{n}") for n in range(4)))
    finally:
        await upstreams.aclose()
    times = [arrival.at for arrival in recorder.arrivals[1:]]
    assert len(times) == 4
    assert times[1] - times[0] >= 0.2 - 2 * SLACK  # paced, though a connection was free
    assert times[3] - times[0] >= 0.6 - SLACK
    assert recorder.most_in_flight == 2


def test_the_defaults_are_100_connections_and_no_pace() -> None:
    settings = load_settings({})
    for source in Source:
        assert getattr(settings, f"{source.slug}_max_connections") == 100
        assert getattr(settings, f"{source.slug}_max_rps") == 0


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MAX_RPS", "-1", "greater than or equal to 0"),
        ("MAX_RPS", "inf", "finite number"),
        ("MAX_RPS", "fast", "valid number"),
        ("MAX_CONNECTIONS", "0", "greater than or equal to 1"),
        ("MAX_CONNECTIONS", "2.5", "valid integer"),
    ],
)
@pytest.mark.parametrize("source", list(Source), ids=lambda s: s.name)
def test_a_bad_limit_names_the_variable_to_fix(
    source: Source, variable: str, value: str, expected: str
) -> None:
    from gateway.settings import ConfigError

    name = f"LEARNGRAPH_{source.slug.upper()}_{variable}"
    with pytest.raises(ConfigError) as refused:
        load_settings({name: value})
    assert name in str(refused.value) and expected in str(refused.value)


# -- the pacer and Retry-After alone -----------------------------------------------------------------


async def test_a_pacer_hands_out_slots_in_order_and_takes_back_the_last_one_unused() -> None:
    pacer = Pacer("damstra", max_rps=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    order: list[int] = []

    async def one(n: int) -> None:
        await pacer.wait()
        order.append(n)

    await asyncio.gather(*(one(n) for n in range(4)))
    assert order == [0, 1, 2, 3]
    assert loop.time() - started >= 0.3 - SLACK
    # A request refused for its deadline gives its slot back: the next one gets it, not the one after.
    pacer = Pacer("damstra", max_rps=4)
    assert await pacer.wait() == 0  # the first slot is now; the next 250 ms on
    with pytest.raises(UpstreamDeadlineExceeded):
        await pacer.wait(Allowance(max_requests=10, seconds=0.01))
    assert await pacer.wait() <= 0.25  # not 0.5


async def test_a_pause_alone_activates_a_pacer_until_it_ends() -> None:
    pacer = Pacer("iscout")
    assert not pacer.active
    assert pacer.pause(0.1) is True
    assert pacer.pause(0.05) is False  # within the pause in force: not a new one
    assert pacer.active
    assert await pacer.wait() >= 0.1 - SLACK
    assert not pacer.active
    pacer.pause(10**6)
    assert pacer._paused_until - asyncio.get_running_loop().time() <= LONGEST_PAUSE_SECONDS


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 7.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 7.0),  # RFC 850, obsolete but to be read
        ("Sun Nov  6 08:49:37 1994", 7.0),  # asctime, ditto
        ("Sun, 06 Nov 1994 08:49:00 GMT", 0.0),  # already past
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header: str | None, expected: float | None) -> None:
    now = datetime(1994, 11, 6, 8, 49, 30, tzinfo=UTC)
    assert retry_after_seconds(header, now) == expected
    assert retry_after_seconds("Sun, 06 Nov 1994 08:50:30 GMT", now) == timedelta(minutes=1).total_seconds()
