"""LearningLogin's search filters reached through the graph: `User.schedules(dueOn:, progressPercent:,
score:, failedAttempts:, lastAttemptOn:, completedAfter:, completedBefore:, certificateExpiringAfter:,
certificateExpiringBefore:)` and `completions(score:, expiringAfter:, expiringBefore:)`. Each is sent to
LEARNINGLOGIN as its ransack parameter (the sandbox filters as the documents describe), and the answer is
what the world holds, read here from the world itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from gateway.sources import Source
from sandbox.world import TrainSessionRow
from tests.conftest import Gateway
from tests.ids import gid
from tests.resolvers.test_mutations_scheduling import learninglogin_person

SCHEDULES = """query($id: ID!, $args: Boolean!) { user(id: $id) { schedules(source: LEARNINGLOGIN, first: 500,
    dueOn: $dueOn, progressPercent: $progressPercent, score: $score, failedAttempts: $failedAttempts,
    lastAttemptOn: $lastAttemptOn, completedAfter: $completedAfter, completedBefore: $completedBefore,
    certificateExpiringAfter: $certificateExpiringAfter, certificateExpiringBefore: $certificateExpiringBefore)
    @include(if: $args) { edges { node { id } } } } }"""
VARIABLES = (
    "$dueOn: Date, $progressPercent: Float, $score: Float, $failedAttempts: Int, $lastAttemptOn: Date, "
    "$completedAfter: Date, $completedBefore: Date, $certificateExpiringAfter: Date, "
    "$certificateExpiringBefore: Date"
)
QUERY = SCHEDULES.replace("$args: Boolean!", f"$args: Boolean!, {VARIABLES}")

Pick = Callable[[list[TrainSessionRow]], tuple[Any, Callable[[TrainSessionRow], bool]]]


def _some(values: list[Any]) -> Any:
    present = sorted(v for v in values if v is not None)
    assert present, "the world holds no value to filter by"
    return present[len(present) // 2]


# argument -> (ransack parameter, the value to ask for given the person's sessions, what matches it)
FILTERS: dict[str, tuple[str, Pick]] = {
    "dueOn": (
        "complete_by_eq",
        lambda ts: (d := _some([t.complete_by for t in ts]), lambda t: t.complete_by == d),
    ),
    "progressPercent": (
        "percent_complete_eq",
        lambda ts: (p := _some([t.percent_complete for t in ts]), lambda t: t.percent_complete == p),
    ),
    "score": ("score_eq", lambda ts: (s := _some([t.score for t in ts]), lambda t: t.score == s)),
    "failedAttempts": (
        "failed_attempts_eq",
        lambda ts: (f := _some([t.failed_attempts for t in ts]), lambda t: t.failed_attempts == f),
    ),
    "lastAttemptOn": (
        "last_attempt_eq",
        lambda ts: (d := _some([t.last_attempt for t in ts]), lambda t: t.last_attempt == d),
    ),
    "completedAfter": (
        "completion_date_gteq",
        lambda ts: (
            d := _some([t.completion_date for t in ts]),
            lambda t: t.completion_date is not None and t.completion_date >= d,
        ),
    ),
    "completedBefore": (
        "completion_date_lteq",
        lambda ts: (
            d := _some([t.completion_date for t in ts]),
            lambda t: t.completion_date is not None and t.completion_date <= d,
        ),
    ),
    "certificateExpiringAfter": (
        "cert_expiry_gt",
        lambda ts: (
            d := min(t.cert_expiry for t in ts if t.cert_expiry is not None) - timedelta(days=1),
            lambda t: t.cert_expiry is not None and t.cert_expiry > d,
        ),
    ),
    "certificateExpiringBefore": (
        "cert_expiry_lt",
        lambda ts: (
            d := _some([t.cert_expiry for t in ts]),
            lambda t: t.cert_expiry is not None and t.cert_expiry < d,
        ),
    ),
}


def _wire(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _richest_person(gateway: Gateway) -> tuple[int, str, list[TrainSessionRow]]:
    """The linked LEARNINGLOGIN person, their User ID and their sessions (the world seeds values on them)."""
    person, user = learninglogin_person(gateway)
    login = person.learninglogin_login_id
    assert login is not None
    sessions = [
        ts for ts in gateway.sandbox.world.learninglogin.train_sessions.values() if ts.login_id == login
    ]
    return login, user, sessions


@pytest.mark.parametrize("argument", sorted(FILTERS))
async def test_user_schedules_filter_by_each_learninglogin_search_filter(
    gateway: Gateway, argument: str
) -> None:
    parameter, pick = FILTERS[argument]
    _, user, sessions = _richest_person(gateway)
    value, matches = pick(sessions)
    expected = sorted(gid(f"Schedule:learninglogin:{ts.id}") for ts in sessions if matches(ts))
    assert expected, "the filter must keep something to prove it"
    gateway.clear_logs()
    data = await gateway.data(QUERY, {"id": user, "args": True, argument: _wire(value)})
    got = sorted(e["node"]["id"] for e in data["user"]["schedules"]["edges"])
    assert got == expected
    asked = [
        parse_qs(e.query) for e in gateway.log(Source.LEARNINGLOGIN).entries if e.path == "/train_sessions"
    ]
    assert asked and all(q.get(parameter) == [str(_wire(value)).removesuffix(".0")] for q in asked), asked


async def test_a_learninglogin_only_filter_keeps_no_schedule_of_another_source(gateway: Gateway) -> None:
    _, user, sessions = _richest_person(gateway)
    day = _some([ts.last_attempt for ts in gateway.sandbox.world.learninglogin.train_sessions.values()])
    query = QUERY.replace("schedules(source: LEARNINGLOGIN, ", "schedules(")
    data = await gateway.data(query, {"id": user, "args": True, "lastAttemptOn": day.isoformat()})
    sources = {gid_source(e["node"]["id"]) for e in data["user"]["schedules"]["edges"]}
    assert sources <= {"learninglogin"}


def gid_source(global_id: str) -> str:
    import base64

    return base64.b64decode(global_id).decode().split(":")[1]


COMPLETIONS = """query($score: Float, $after: Date, $before: Date) { completions(source: LEARNINGLOGIN,
    score: $score, expiringAfter: $after, expiringBefore: $before, first: 500) { edges { node { id score
    expiresOn } } } }"""


async def test_company_wide_completions_send_score_and_expiry_to_learninglogin(gateway: Gateway) -> None:
    world = gateway.sandbox.world.learninglogin.train_sessions.values()
    done = [ts for ts in world if ts.completion_date is not None]
    score = _some([ts.score for ts in done])
    expiries = sorted({ts.cert_expiry for ts in done if ts.cert_expiry is not None})
    after, before = expiries[0], expiries[-1] + timedelta(days=1)
    expected = sorted(
        gid(f"Completion:learninglogin:{ts.id}")
        for ts in done
        if ts.score == score and ts.cert_expiry is not None and after < ts.cert_expiry < before
    )
    gateway.clear_logs()
    data = await gateway.data(
        COMPLETIONS, {"score": float(score), "after": after.isoformat(), "before": before.isoformat()}
    )
    got = sorted(e["node"]["id"] for e in data["completions"]["edges"])
    assert got == expected and expected
    asked = [
        parse_qs(e.query) for e in gateway.log(Source.LEARNINGLOGIN).entries if e.path == "/train_sessions"
    ]
    assert asked
    for q in asked:
        assert q["score_eq"] == [str(score)]
        assert q["cert_expiry_gt"] == [after.isoformat()] and q["cert_expiry_lt"] == [before.isoformat()]
