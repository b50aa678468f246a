"""The backfill: every source read whole into the index, matching the sandbox's own state; resumable
from its saved cursor after a stop midway; paced by a modest concurrency; status as it goes."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import UpstreamError
from gateway.index.progress import SourceProgress
from gateway.index.rows import Kind
from gateway.index.syncer import IndexSyncer
from gateway.sources import Source
from tests.index.sync.conftest import Synced

SYNC_STATUS = "{ syncStatus { source state lastSyncedAt rows } }"


async def test_the_backfill_holds_what_each_sandbox_upstream_holds(synced: Synced) -> None:
    world = synced.sandbox.world
    await synced.syncer.sync_once()

    damstra = world.damstra
    assert await synced.count(Kind.ACCOUNTS, Source.DAMSTRA) == len(damstra.users)
    assert await synced.count(Kind.GROUPS, Source.DAMSTRA) == len(damstra.groups)
    assert await synced.count(Kind.SCHEDULES, Source.DAMSTRA) == len(damstra.schedules)
    completed = [s for s in damstra.schedules.values() if s.status == "completed" and s.completed]
    assert await synced.count(Kind.COMPLETIONS, Source.DAMSTRA) == len(completed)
    memberships = sum(len(g.member_ids) + len(g.supervisor_ids) for g in damstra.groups.values())
    assert await synced.count(Kind.MEMBERSHIPS, Source.DAMSTRA) == memberships
    assert await synced.count(Kind.ATTENDANCE, Source.DAMSTRA) == len(damstra.attendees)
    assert await synced.count(Kind.LESSONS, Source.DAMSTRA) > 0

    sessions = world.learninglogin.train_sessions
    assert await synced.count(Kind.SCHEDULES, Source.LEARNINGLOGIN) == len(sessions)
    done = [s for s in sessions.values() if s.completion_date is not None]
    assert await synced.count(Kind.COMPLETIONS, Source.LEARNINGLOGIN) == len(done)

    records = world.training_records.records
    assert await synced.count(Kind.SCHEDULES, Source.TRAINING_RECORDS) == len(records)
    finished = [r for r in records.values() if r.date_completed is not None]
    assert await synced.count(Kind.COMPLETIONS, Source.TRAINING_RECORDS) == len(finished)

    keys = {(c.user_id, c.training_id, c.created_ms) for c in world.iscout.completions}
    assert await synced.count(Kind.COMPLETIONS, Source.ISCOUT) == len(keys)

    # One schedule row as the sandbox has it: its user, lesson and completion date.
    sample = completed[0]
    row = await synced.index.get(Kind.COMPLETIONS, Source.DAMSTRA, str(sample.id))
    assert row is not None and row.record().user_id == sample.user_id
    assert row.record().lesson_id == sample.lesson_id


async def test_sync_status_goes_live_in_the_graph_and_readyz(synced: Synced) -> None:
    before = await synced.gateway.data(SYNC_STATUS)
    assert {s["state"] for s in before["syncStatus"]} == {"BACKFILLING"}
    assert all(s["rows"] == 0 and s["lastSyncedAt"] is None for s in before["syncStatus"])

    await synced.syncer.sync_once()

    after = {s["source"]: s for s in (await synced.gateway.data(SYNC_STATUS))["syncStatus"]}
    assert set(after) == {"DAMSTRA", "LEARNINGLOGIN", "TRAINING_RECORDS", "ISCOUT"}
    for status in after.values():
        assert status["state"] == "LIVE" and status["rows"] > 0 and status["lastSyncedAt"]
    schedules = await synced.count(Kind.SCHEDULES, Source.TRAINING_RECORDS)
    completions = await synced.count(Kind.COMPLETIONS, Source.TRAINING_RECORDS)
    assert after["TRAINING_RECORDS"]["rows"] == schedules + completions

    ready = (await synced.gateway.http.get("/readyz")).json()
    assert ready["sync"]["DAMSTRA"]["state"] == "LIVE"
    assert ready["sync"]["ISCOUT"]["rows"] == after["ISCOUT"]["rows"]

    metrics = (await synced.gateway.http.get("/metrics")).text
    assert 'learngraph_index_sync_state{source="damstra",state="LIVE"} 1.0' in metrics
    assert 'learngraph_index_rows{kind="schedules",source="damstra"}' in metrics


async def test_a_failing_source_says_failing_and_keeps_its_rows(synced: Synced) -> None:
    await synced.syncer.sync_once([Source.TRAINING_RECORDS])
    held = await synced.count(Kind.SCHEDULES, Source.TRAINING_RECORDS)
    synced.sandbox.controls[Source.TRAINING_RECORDS].faults.fail_next = 100
    syncer = synced.syncer
    progress = SourceProgress.from_json(await syncer.sink.load_progress(Source.TRAINING_RECORDS))
    progress.last_full_at = None  # due again
    with pytest.raises(UpstreamError):
        await syncer.tick(syncer.feeds[Source.TRAINING_RECORDS], progress)
    await syncer._failed(syncer.feeds[Source.TRAINING_RECORDS], progress, "UPSTREAM_ERROR: 500")

    status = {s["source"]: s for s in (await synced.gateway.data(SYNC_STATUS))["syncStatus"]}
    assert status["TRAINING_RECORDS"]["state"] == "FAILING"
    assert status["TRAINING_RECORDS"]["rows"] >= held
    assert await synced.count(Kind.SCHEDULES, Source.TRAINING_RECORDS) == held

    synced.sandbox.controls[Source.TRAINING_RECORDS].faults.fail_next = 0
    await syncer.sync_once([Source.TRAINING_RECORDS])
    status = {s["source"]: s for s in (await synced.gateway.data(SYNC_STATUS))["syncStatus"]}
    assert status["TRAINING_RECORDS"]["state"] == "LIVE"


async def test_a_backfill_stopped_midway_resumes_from_its_cursor(synced: Synced) -> None:
    """Stopped in DAMSTRA's schedules phase, a new syncer (a restarted process) reads on from the
    last user done: no user's schedules are read twice, and the rows match a whole backfill's."""
    sandbox = synced.sandbox
    users = sorted(sandbox.world.damstra.users)
    log = synced.gateway.log(Source.DAMSTRA)
    log.clear()
    syncer = synced.syncer
    stop_after = len(users) // 2

    def schedule_reads() -> list[str]:
        return [e.path.rsplit("/user/", 1)[1] for e in log.entries if e.path.endswith("/lesson_schedule")]

    async def stopped_midway() -> None:
        while len(schedule_reads()) < stop_after:  # noqa: ASYNC110 (the sandbox's log fills from another task)
            await asyncio.sleep(0.001)

    backfill = asyncio.create_task(syncer.sync_once([Source.DAMSTRA]))
    await stopped_midway()
    # The process "dies" midway: DAMSTRA stops answering, the pass stops where its cursor was saved.
    synced.sandbox.controls[Source.DAMSTRA].faults.fail_next = 10_000
    with pytest.raises(UpstreamError):
        await backfill
    synced.sandbox.controls[Source.DAMSTRA].faults.fail_next = 0
    first_run = schedule_reads()
    saved = SourceProgress.from_json(await syncer.sink.load_progress(Source.DAMSTRA))
    assert saved.phase == "schedules" and saved.cursor is not None and not saved.live
    assert saved.state.value == "BACKFILLING"

    log.clear()
    restarted = IndexSyncer.for_index(
        synced.index, synced.gateway.services.upstreams, syncer.settings, syncer.logins
    )
    await restarted.sync_once([Source.DAMSTRA])
    second_run = schedule_reads()
    # The users before the cursor are not read again; each after it once. The phases before the
    # schedules (the user listing, groups, lessons) are not read again either.
    assert not [e.path for e in log.entries if e.path.endswith(("/user", "/group", "/lesson"))]
    cursor = int(saved.cursor)
    assert {f"{u}/lesson_schedule" for u in users if u <= cursor} <= set(first_run)
    assert sorted(second_run) == sorted(f"{u}/lesson_schedule" for u in users if u > cursor)
    assert len(second_run) < len(users) - stop_after + syncer.settings.index_sync_concurrency
    assert await synced.count(Kind.SCHEDULES, Source.DAMSTRA) == len(sandbox.world.damstra.schedules)
    done = SourceProgress.from_json(await syncer.sink.load_progress(Source.DAMSTRA))
    assert done.live and done.phase is None and done.state.value == "LIVE"
