"""LearningLogin's train sessions name no login: the sync reads each known login's by its username, so
after the backfill every linked person's sessions are indexed under their login, and questions
narrowed to some people (a group's roll-up, any caller who is not ADMIN) come from the index, equal
to live, with no upstream request. A session a poll finds new waits for the next full pass."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.data.callers import Caller
from gateway.index.progress import UNATTRIBUTED, SourceProgress
from gateway.index.rows import CompletionRow, Kind, ScheduleRow
from gateway.sources import Source
from gateway.upstreams.learninglogin.client import PER_PAGE
from tests.ids import user_id
from tests.index.sync.conftest import Synced, completed_today
from tests.index.test_graph import COMPLETIONS, SCHEDULES, SUPERVISOR, TRAINEE, both_ways, requests

OVERDUE = "query($id: ID!) { group(id: $id) { overdueCount } }"
UNATTRIBUTED_REASON = {"index": {"used": False, "reason": "LEARNINGLOGIN UNATTRIBUTED"}}


def linked_usernames(synced: Synced) -> set[str]:
    return {
        username
        for person in synced.gateway.services.directory.people
        for username in person.learninglogin_usernames.values()
    }


async def backfilled(synced: Synced) -> None:
    # The sandbox seeds DAMSTRA's status words as of its world's anchor; a DAMSTRA running now would say
    # what the dates say today, which is what the index derives at read time (as tests/index/test_graph).
    now = datetime.now(UTC)
    for schedule in synced.sandbox.world.damstra.schedules.values():
        if schedule.status in ("scheduled", "due", "overdue"):
            ahead, late = schedule.start_date > now, schedule.end_date < now
            schedule.status = "scheduled" if ahead else "overdue" if late else "due"
    synced.gateway.clear_logs()
    await synced.syncer.sync_once()
    synced.gateway.services.index = synced.index


async def test_the_backfill_reads_each_login_once_and_attributes_every_session(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.learninglogin
    known = linked_usernames(synced)
    per_username = Counter(world.logins[s.login_id].username for s in world.train_sessions.values())

    # The bound: the company-wide list's pages, then one request per known login (more only for a login
    # with more than a page of sessions).
    pages = math.ceil(len(world.train_sessions) / PER_PAGE)
    by_login = sum(max(1, math.ceil(per_username[name] / PER_PAGE)) for name in known)
    sent = synced.requests(Source.LEARNINGLOGIN)
    assert sent == pages + by_login
    assert sent <= pages + len(known) + sum(n // PER_PAGE for n in per_username.values())

    # Every session of a linked login is held under it; any other is nobody's.
    for session in world.train_sessions.values():
        row = await synced.index.get(Kind.SCHEDULES, Source.LEARNINGLOGIN, str(session.id))
        assert isinstance(row, ScheduleRow)
        username = world.logins[session.login_id].username
        assert row.username == (username if username in known else None), session.id
    assert sum(per_username[name] for name in known) > 0


@pytest.mark.parametrize("caller", [SUPERVISOR, TRAINEE], ids=["supervisor", "trainee"])
async def test_after_the_backfill_a_callers_answers_come_from_the_index_equal_to_live(
    synced: Synced, caller: Caller
) -> None:
    await backfilled(synced)
    index = synced.index
    async with synced.gateway.as_caller(caller) as gateway:
        for query, key in ((COMPLETIONS, "completions"), (SCHEDULES, "schedules")):
            for source in (None, "LEARNINGLOGIN"):
                variables = {"source": source} if key == "completions" and source else {}
                live, answer, sent = await both_ways(gateway, index, query, variables)
                assert "errors" not in answer, answer
                assert answer["extensions"] == {"index": {"used": True}}, (key, source)
                assert sent == 0
                got, want = answer["data"][key], live["data"][key]
                assert [e["node"] for e in got["edges"]] == [e["node"] for e in want["edges"]], key
                assert got["pageInfo"]["hasNextPage"] == want["pageInfo"]["hasNextPage"]
        mine = await gateway.data(
            "{ completions(first: 100, source: LEARNINGLOGIN) { edges { node { id } } } }"
        )
    everyone = await synced.gateway.data(
        "{ completions(first: 100, source: LEARNINGLOGIN) { edges { node { id } } } }"
    )
    # The rules cut the index's rows as they cut live ones.
    assert len(mine["completions"]["edges"]) < len(everyone["completions"]["edges"])


async def test_after_the_backfill_a_groups_overdue_count_comes_from_the_index(synced: Synced) -> None:
    await backfilled(synced)
    gateway, index = synced.gateway, synced.index
    groups = (await gateway.data("{ groups(first: 50) { edges { node { id } } } }"))["groups"]["edges"]
    counts = []
    for edge in groups[:6]:
        live, answer, sent = await both_ways(gateway, index, OVERDUE, {"id": edge["node"]["id"]})
        assert answer["extensions"] == {"index": {"used": True}}
        assert sent == 0
        assert answer["data"] == live["data"]
        counts.append(answer["data"]["group"]["overdueCount"])
    assert any(counts)


async def test_a_session_a_poll_finds_new_waits_for_the_next_full_pass(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.learninglogin
    known = linked_usernames(synced)
    login = next(login for login in world.logins.values() if login.username in known)
    new = completed_today(9_999_002, login.id, "NEW-2", 75)
    world.train_sessions[new.id] = new
    syncer, sink = synced.syncer, synced.syncer.sink
    progress = SourceProgress.from_json(await sink.load_progress(Source.LEARNINGLOGIN))
    progress.extra["polled_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()  # a poll is due
    await sink.save_progress(Source.LEARNINGLOGIN, progress.to_json())
    await syncer.sync_once([Source.LEARNINGLOGIN])

    # Polled company-wide by date: in the index, but under no login yet.
    row = await synced.index.get(Kind.COMPLETIONS, Source.LEARNINGLOGIN, str(new.id))
    assert isinstance(row, CompletionRow) and row.username is None
    progress = SourceProgress.from_json(await sink.load_progress(Source.LEARNINGLOGIN))
    assert progress.extra[UNATTRIBUTED] == [str(new.id)]
    async with synced.gateway.as_caller(SUPERVISOR) as gateway:
        live, answer, _ = await both_ways(gateway, synced.index, COMPLETIONS, {})
        assert answer["extensions"] == UNATTRIBUTED_REASON
        assert answer["data"] == live["data"]
    everyone = await synced.gateway.query(COMPLETIONS, {})  # ADMIN's company-wide answer: the index's
    assert everyone["extensions"] == {"index": {"used": True}}

    # The next full pass reads the login's sessions: the new one is theirs, and the index answers again.
    progress = SourceProgress.from_json(await sink.load_progress(Source.LEARNINGLOGIN))
    assert progress.last_full_at is not None
    progress.last_full_at -= timedelta(days=2)
    await sink.save_progress(Source.LEARNINGLOGIN, progress.to_json())
    await syncer.sync_once([Source.LEARNINGLOGIN])
    row = await synced.index.get(Kind.COMPLETIONS, Source.LEARNINGLOGIN, str(new.id))
    assert isinstance(row, CompletionRow) and row.username == login.username
    progress = SourceProgress.from_json(await sink.load_progress(Source.LEARNINGLOGIN))
    assert UNATTRIBUTED not in progress.extra
    async with synced.gateway.as_caller(SUPERVISOR) as gateway:
        gateway.clear_logs()
        answer = await gateway.query(COMPLETIONS, {})
        assert answer["extensions"] == {"index": {"used": True}} and requests(gateway) == 0


async def test_an_own_unassign_by_course_removes_the_logins_rows_before_the_mutation_answers(
    synced: Synced,
) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.learninglogin
    known = linked_usernames(synced)
    session = next(s for s in world.train_sessions.values() if world.logins[s.login_id].username in known)
    others = [
        s
        for s in world.train_sessions.values()
        if s.login_id == session.login_id and s.course_code != session.course_code
    ]
    assert await synced.index.get(Kind.SCHEDULES, Source.LEARNINGLOGIN, str(session.id)) is not None
    query = """mutation($input: UnassignCoursesInput!) { unassignCourses(input: $input) {
        unassignedCount userErrors { code } } }"""
    variables: dict[str, Any] = {
        "input": {
            "userId": user_id("learninglogin", str(session.login_id)),
            "courseCodes": [session.course_code],
        }
    }
    answer = (await synced.gateway.data(query, variables))["unassignCourses"]
    assert answer["userErrors"] == []
    assert session.id not in world.train_sessions
    # Named by course, not id: the login's sessions are read again, and those gone go.
    assert await synced.index.get(Kind.SCHEDULES, Source.LEARNINGLOGIN, str(session.id)) is None
    assert await synced.index.get(Kind.COMPLETIONS, Source.LEARNINGLOGIN, str(session.id)) is None
    for other in others:
        assert await synced.index.get(Kind.SCHEDULES, Source.LEARNINGLOGIN, str(other.id)) is not None
