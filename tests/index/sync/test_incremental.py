"""After the backfill: each DAMSTRA webhook re-reads exactly the user it names; LearningLogin is read by
completion date; Training Records and iScout are re-read on their schedules, reconciling; LearnGraph's
own writes are in the index before the mutation answers."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from gateway.index.progress import SourceProgress
from gateway.index.rows import AccountRow, GroupRow, Kind, ScheduleRow
from gateway.sources import Source
from gateway.upstreams.damstra.client import DamstraClient
from sandbox.server import CREDENTIALS, MOUNTS
from sandbox.world import IScoutCompletionRow
from tests.conftest import IN_PROCESS, Gateway
from tests.ids import damstra_user_id, gid, native_id, user_id
from tests.index.sync.conftest import Synced, completed_today

# The webhook-to-index target: a change shows within this after DAMSTRA's post.
WEBHOOK_LAG_SECONDS = 2.0


def stamp() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def damstra(synced: Synced) -> DamstraClient:
    """DAMSTRA as someone else writes to it (its own UI, another integration): not through LearnGraph."""
    return DamstraClient.connect(
        IN_PROCESS + MOUNTS[Source.DAMSTRA],
        secret=SecretStr(CREDENTIALS[Source.DAMSTRA]),
        transport=synced.transport,
        retry_wait_seconds=0.0,
    )


async def backfilled(synced: Synced) -> None:
    await synced.syncer.sync_once()
    synced.gateway.clear_logs()


async def reflected(synced: Synced) -> float:
    """Waits for the webhook's re-read; answers the seconds it took."""
    started = time.perf_counter()
    await synced.syncer.freshen.settle()
    return time.perf_counter() - started


def only_user_reads(synced: Synced, user_id: int, *, with_record: bool) -> None:
    paths = [e.path for e in synced.gateway.log(Source.DAMSTRA).entries]
    expected = [f"/user/{user_id}/lesson_schedule"] + ([f"/user/{user_id}"] if with_record else [])
    assert sorted(paths) == sorted(expected)


async def test_a_schedule_webhook_rereads_that_users_schedules(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.damstra
    schedule = next(s for s in world.schedules.values() if s.status in ("due", "overdue"))
    schedule.status, schedule.completed, schedule.passed = "completed", datetime.now(UTC), True
    assert await synced.index.get(Kind.COMPLETIONS, Source.DAMSTRA, str(schedule.id)) is None

    lags_before = REGISTRY.get_sample_value("learngraph_index_webhook_lag_seconds_count") or 0.0
    started = time.perf_counter()
    await synced.webhook(
        {
            "name": "lesson.schedule.completed",
            "lessonScheduleId": str(schedule.id),
            "userId": str(schedule.user_id),
            "timeStamp": stamp(),
        }
    )
    await reflected(synced)
    lag = time.perf_counter() - started
    assert lag <= WEBHOOK_LAG_SECONDS
    assert REGISTRY.get_sample_value("learngraph_index_webhook_lag_seconds_count") == lags_before + 1
    row = await synced.index.get(Kind.COMPLETIONS, Source.DAMSTRA, str(schedule.id))
    assert row is not None and row.record().user_id == schedule.user_id
    only_user_reads(synced, schedule.user_id, with_record=False)

    # Cancelled upstream: the schedule's row says so, the completion is gone with the next event.
    schedule.status, schedule.completed = "cancelled", None
    await synced.webhook(
        {
            "name": "lesson.schedule.cancelled",
            "lessonScheduleId": str(schedule.id),
            "userId": str(schedule.user_id),
            "cancellationReason": "no longer needed",
            "timeStamp": stamp(),
        }
    )
    await reflected(synced)
    cancelled = await synced.index.get(Kind.SCHEDULES, Source.DAMSTRA, str(schedule.id))
    assert isinstance(cancelled, ScheduleRow) and cancelled.terminal == "cancelled"
    assert await synced.index.get(Kind.COMPLETIONS, Source.DAMSTRA, str(schedule.id)) is None


async def test_a_created_schedule_and_a_deleted_one_show_after_the_webhook(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.damstra
    user = next(iter(world.users.values()))
    busy = {s.lesson_id for s in world.schedules_of(user.id) if s.status in ("scheduled", "due", "overdue")}
    lesson = next(v for v in world.lessons.values() if v.status == "active" and v.lesson_id not in busy)
    client = damstra(synced)
    try:
        made = await client.schedule_user(user.id, [lesson.lesson_version_id])
    finally:
        await client.aclose()
    gone = next(s for s in world.schedules_of(user.id) if s.id not in made)
    del world.schedules[gone.id]
    synced.gateway.clear_logs()

    await synced.webhook(
        {
            "name": "lesson.schedule.created",
            "lessonScheduleId": str(made[0]),
            "userID": str(user.id),
            "timeStamp": stamp(),
        }
    )
    await reflected(synced)
    assert await synced.index.get(Kind.SCHEDULES, Source.DAMSTRA, str(made[0])) is not None
    # The re-read is the user's whole list: a schedule it no longer lists goes from the index.
    assert await synced.index.get(Kind.SCHEDULES, Source.DAMSTRA, str(gone.id)) is None
    only_user_reads(synced, user.id, with_record=False)


async def test_user_webhooks_reread_that_user(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.damstra
    user = next(iter(world.users.values()))
    user.first_name = "Renamed"
    await synced.webhook(
        {
            "name": "user.settings.updated",
            "userId": str(user.id),
            "actingUserId": "",
            "firstName": "Renamed",
            "timeStamp": stamp(),
        }
    )
    await reflected(synced)
    account = await synced.index.get(Kind.ACCOUNTS, Source.DAMSTRA, str(user.id))
    assert isinstance(account, AccountRow) and account.first_name == "Renamed"
    only_user_reads(synced, user.id, with_record=True)

    synced.gateway.clear_logs()
    user.client_status_id = 2  # inactive, as DAMSTRA's inactivate leaves it
    await synced.webhook({"name": "user.account.inactivate", "userId": str(user.id), "timeStamp": stamp()})
    await reflected(synced)
    account = await synced.index.get(Kind.ACCOUNTS, Source.DAMSTRA, str(user.id))
    assert isinstance(account, AccountRow) and account.active is False
    only_user_reads(synced, user.id, with_record=True)


async def test_learninglogin_is_read_by_completion_date_between_full_reads(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.learninglogin
    login = next(iter(world.logins.values()))
    new = completed_today(9_999_001, login.id, "NEW-1", 90)
    world.train_sessions[new.id] = new
    syncer = synced.syncer
    progress = SourceProgress.from_json(await syncer.sink.load_progress(Source.LEARNINGLOGIN))
    progress.extra["polled_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()  # a poll is due
    await syncer.sink.save_progress(Source.LEARNINGLOGIN, progress.to_json())

    await syncer.sync_once([Source.LEARNINGLOGIN])

    assert await synced.index.get(Kind.COMPLETIONS, Source.LEARNINGLOGIN, str(new.id)) is not None
    queries = [e.query for e in synced.gateway.log(Source.LEARNINGLOGIN).entries]
    assert queries and all("completion_date_gteq=" in q for q in queries)
    total = len(world.train_sessions)
    assert len(queries) < total / 64  # not the whole list again
    since = (datetime.now(UTC) - timedelta(days=1)).date()
    assert all(f"completion_date_gteq={since.isoformat()}" in q for q in queries)


async def test_training_records_and_iscout_reread_on_their_schedule_and_reconcile(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world
    deleted_id, deleted = next(iter(world.training_records.records.items()))
    del world.training_records.records[deleted_id]
    added = replace(deleted, api_id="rec-new-1")
    world.training_records.records[added.api_id] = added
    new_completion = IScoutCompletionRow(
        user_id=world.iscout.completions[0].user_id,
        training_id="new-training",
        created_ms=int(time.time() * 1000),
        date_number=int(date.today().strftime("%Y%m%d")),
        special_expiration_date_number=None,
        instructor_id=None,
        group_training_id=None,
    )
    world.iscout.completions = [new_completion, *world.iscout.completions]

    # Not due yet: nothing is read.
    await synced.syncer.sync_once([Source.TRAINING_RECORDS, Source.ISCOUT])
    assert synced.requests(Source.TRAINING_RECORDS) == synced.requests(Source.ISCOUT) == 0

    for source in (Source.TRAINING_RECORDS, Source.ISCOUT):
        await due_again(synced, source, minutes=synced.syncer.settings.index_training_records_reread_minutes)
    await synced.syncer.sync_once([Source.TRAINING_RECORDS, Source.ISCOUT])

    assert await synced.index.get(Kind.SCHEDULES, Source.TRAINING_RECORDS, deleted_id) is None
    assert await synced.index.get(Kind.SCHEDULES, Source.TRAINING_RECORDS, "rec-new-1") is not None
    assert await synced.count(Kind.SCHEDULES, Source.TRAINING_RECORDS) == len(world.training_records.records)
    native = f"{new_completion.user_id}:new-training:{new_completion.created_ms}"
    assert await synced.index.get(Kind.COMPLETIONS, Source.ISCOUT, native) is not None


async def due_again(synced: Synced, source: Source, *, minutes: float) -> None:
    """As if the last full pass were `minutes` and a second ago."""
    progress = SourceProgress.from_json(await synced.syncer.sink.load_progress(source))
    assert progress.last_full_at is not None
    progress.last_full_at -= timedelta(minutes=minutes, seconds=1)
    await synced.syncer.sink.save_progress(source, progress.to_json())


async def test_reconciliation_removes_what_damstra_no_longer_has(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.damstra
    gone = next(iter(world.schedules.values()))
    del world.schedules[gone.id]
    group_id, group = next(iter(world.groups.items()))
    del world.groups[group_id]
    assert await synced.index.get(Kind.SCHEDULES, Source.DAMSTRA, str(gone.id)) is not None

    await due_again(synced, Source.DAMSTRA, minutes=synced.syncer.settings.index_reconcile_hours * 60)
    await synced.syncer.sync_once([Source.DAMSTRA])

    assert await synced.index.get(Kind.SCHEDULES, Source.DAMSTRA, str(gone.id)) is None
    assert await synced.index.get(Kind.GROUPS, Source.DAMSTRA, str(group_id)) is None
    assert await synced.count(Kind.SCHEDULES, Source.DAMSTRA) == len(world.schedules)
    del group


async def test_an_own_write_is_in_the_index_when_the_mutation_answers(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world.damstra
    schedule = next(s for s in world.schedules.values() if s.status in ("due", "overdue"))
    query = """mutation($input: CompleteLessonInput!) { completeLesson(input: $input) {
        schedule { id status } userErrors { code } } }"""
    variables: dict[str, Any] = {
        "input": {
            "userId": damstra_user_id(schedule.user_id),
            "lessonId": gid(f"Lesson:damstra:{schedule.lesson_id}"),
        }
    }
    answer = (await synced.gateway.data(query, variables))["completeLesson"]
    assert answer["userErrors"] == []
    # No waiting: the write's re-read was done before the answer.
    completed = [s for s in world.schedules_of(schedule.user_id) if s.status == "completed"]
    for done in completed:
        assert await synced.index.get(Kind.COMPLETIONS, Source.DAMSTRA, str(done.id)) is not None
    row = await synced.index.get(Kind.SCHEDULES, Source.DAMSTRA, str(schedule.id))
    assert isinstance(row, ScheduleRow) and row.terminal == "completed"


async def test_an_own_unassign_removes_the_rows_before_the_mutation_answers(synced: Synced) -> None:
    await backfilled(synced)
    world = synced.sandbox.world
    person = next(p for p in world.people if p.training_records_person_api_id)
    record = next(
        r
        for r in world.training_records.records.values()
        if r.person_api_id == person.training_records_person_api_id
    )
    assert await synced.index.get(Kind.SCHEDULES, Source.TRAINING_RECORDS, record.api_id) is not None
    query = """mutation($input: UnassignCoursesInput!) { unassignCourses(input: $input) {
        unassignedCount userErrors { code } } }"""
    variables: dict[str, Any] = {
        "input": {
            "userId": user_id("training_records", person.training_records_person_api_id),
            "scheduleIds": [gid(f"Schedule:training_records:{record.api_id}")],
        }
    }
    answer = (await synced.gateway.data(query, variables))["unassignCourses"]
    assert answer == {"unassignedCount": 1, "userErrors": []}
    assert record.api_id not in world.training_records.records
    assert await synced.index.get(Kind.SCHEDULES, Source.TRAINING_RECORDS, record.api_id) is None
    assert await synced.index.get(Kind.COMPLETIONS, Source.TRAINING_RECORDS, record.api_id) is None


async def test_without_an_index_every_source_is_disabled(gateway: Gateway) -> None:
    status = (await gateway.data("{ syncStatus { source state rows lastSyncedAt } }"))["syncStatus"]
    assert {s["source"] for s in status} == {"DAMSTRA", "LEARNINGLOGIN", "TRAINING_RECORDS", "ISCOUT"}
    assert all(s == {**s, "state": "DISABLED", "rows": 0, "lastSyncedAt": None} for s in status)
    ready = (await gateway.http.get("/readyz")).json()
    assert {v["state"] for v in ready["sync"].values()} == {"DISABLED"}


@pytest.mark.parametrize(
    ("name", "with_record"),
    [
        ("lesson.schedule.created", False),
        ("lesson.schedule.changed", False),
        ("lesson.schedule.completed", False),
        ("lesson.schedule.cancelled", False),
        ("user.account.created", True),
        ("user.settings.updated", True),
        ("user.account.inactivate", True),
    ],
)
async def test_each_webhook_rereads_exactly_the_user_it_names(
    synced: Synced, name: str, with_record: bool
) -> None:
    await backfilled(synced)
    schedule = next(iter(synced.sandbox.world.damstra.schedules.values()))
    body = {"name": name, "userId": str(schedule.user_id), "timeStamp": stamp()}
    if name.startswith("lesson."):
        body["lessonScheduleId"] = str(schedule.id)
    await synced.webhook(body)
    await reflected(synced)
    only_user_reads(synced, schedule.user_id, with_record=with_record)


async def test_own_group_writes_are_in_the_index_when_the_mutation_answers(synced: Synced) -> None:
    await backfilled(synced)
    made = await synced.gateway.data(
        'mutation { createGroup(input: {name: "Night shift"}) { group { id name } userErrors { code } } }'
    )
    created = made["createGroup"]["group"]
    group_native = native_id(created["id"])
    row = await synced.index.get(Kind.GROUPS, Source.DAMSTRA, group_native)
    assert isinstance(row, GroupRow) and row.name == "Night shift"

    await synced.gateway.data(
        f'mutation {{ updateGroup(input: {{groupId: "{created["id"]}", name: "Late shift"}}) {{ userErrors {{ code }} }} }}'
    )
    row = await synced.index.get(Kind.GROUPS, Source.DAMSTRA, group_native)
    assert isinstance(row, GroupRow) and row.name == "Late shift"

    await synced.gateway.data(
        f'mutation {{ inactivateGroup(input: {{groupId: "{created["id"]}"}}) {{ userErrors {{ code }} }} }}'
    )
    assert await synced.index.get(Kind.GROUPS, Source.DAMSTRA, group_native) is None
