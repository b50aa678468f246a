"""`POST /webhooks/damstra`: authentication, validation, what each event invalidates, the quick answer."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from gateway.data.cache import MISSING
from gateway.data.context import Services
from gateway.data.deliveries import InProcessDeliveries
from gateway.data.events import InProcessEventBus, TrainingEvent, TrainingEventType
from gateway.server import cli
from gateway.server.webhooks import (
    SECRET_HEADER,
    BadWebhook,
    DamstraWebhooks,
    delivery_identity,
    log_receiver_state,
    parse_event,
)
from gateway.settings import Settings, load_settings
from gateway.sources import Source
from sandbox.damstra import webhooks as sandbox_webhooks
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import AS_ADMIN, IN_PROCESS, Gateway

SECRET = "a-shared-webhook-secret"
STAMP = "2017-01-16T01:33:27.012Z"
FIRED_AT = datetime(2017, 1, 16, 1, 33, 27, 12_000, tzinfo=UTC)
RECEIVED_AT = datetime(2026, 11, 1, tzinfo=UTC)

# The example bodies of DAMSTRA's API document ("Webhooks"), verbatim, with the event each must become.
SEED_EVENTS: list[tuple[dict[str, str], TrainingEventType, str | None]] = [
    (
        {
            "name": "lesson.schedule.completed",
            "lessonScheduleId": "1233",
            "userId": "1023",
            "timeStamp": STAMP,
        },
        TrainingEventType.SCHEDULE_COMPLETED,
        "1233",
    ),
    (
        {
            "name": "lesson.schedule.changed",
            "scheduleDate": "2017-01-20T01:33:27.012Z",
            "lessonScheduleId": "1233",
            "userID": "1023",
            "timeStamp": STAMP,
        },
        TrainingEventType.SCHEDULE_CHANGED,
        "1233",
    ),
    (
        {"name": "lesson.schedule.created", "lessonScheduleId": "1233", "userID": "1023", "timeStamp": STAMP},
        TrainingEventType.SCHEDULE_CREATED,
        "1233",
    ),
    (
        {
            "name": "lesson.schedule.cancelled",
            "lessonScheduleId": "1233",
            "userID": "1023",
            "cancellationReason": "SCHEDULE_CANCELLED_MANUALLY",
            "timeStamp": STAMP,
        },
        TrainingEventType.SCHEDULE_CANCELLED,
        "1233",
    ),
    (
        {
            "name": "user.account.created",
            "firstName": "John",
            "lastName": "Smith",
            "userName": "j.smith",
            "userId": "1023",
            "timeStamp": STAMP,
        },
        TrainingEventType.USER_CREATED,
        None,
    ),
    (
        {"name": "user.settings.updated", "userId": "1023", "actingUserId": "1055", "timeStamp": STAMP},
        TrainingEventType.USER_UPDATED,
        None,
    ),
    (
        {"name": "user.account.inactivate", "userName": "j.smith", "userId": "1023", "timeStamp": STAMP},
        TrainingEventType.USER_INACTIVATED,
        None,
    ),
]


@dataclass
class Hooks:
    http: httpx.AsyncClient
    services: Services
    receiver: DamstraWebhooks

    @property
    def bus(self) -> InProcessEventBus:
        return cast(InProcessEventBus, self.services.events)

    @property
    def scope(self) -> str:
        return self.services.upstreams.fingerprints[Source.DAMSTRA]

    async def post(self, body: Any, secret: str | None = SECRET, **kwargs: Any) -> httpx.Response:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        return await self.http.post("/webhooks/damstra", content=content, headers=headers, **kwargs)


def fresh(body: dict[str, str], **changes: str) -> dict[str, str]:
    """The body as sent just now (the seed's 2017 stamp is long stale)."""
    return {**body, "timeStamp": datetime.now(UTC).isoformat(), **changes}


def secured_settings(sandbox: Sandbox, address: str) -> Settings:
    return load_settings({**sandbox.gateway_env(address), **AS_ADMIN, "LEARNGRAPH_WEBHOOK_SECRET": SECRET})


@pytest.fixture
async def hooks(sandbox: Sandbox, sandbox_transport: httpx.ASGITransport) -> AsyncIterator[Hooks]:
    from gateway.server.app import build_services, create_app

    settings = secured_settings(sandbox, IN_PROCESS)
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
    ) as http:
        yield Hooks(http, services, app.state.webhooks)
    await services.upstreams.aclose()


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind", "schedule_id"), SEED_EVENTS, ids=[b["name"] for b, *_ in SEED_EVENTS]
)
def test_every_seed_event_becomes_a_training_event(
    body: dict[str, str], kind: TrainingEventType, schedule_id: str | None
) -> None:
    event = parse_event(orjson.dumps(body), RECEIVED_AT)
    assert event == TrainingEvent(
        kind,
        Source.DAMSTRA,
        FIRED_AT,
        user_id="1023",
        schedule_id=schedule_id,
        cancellation_reason=body.get("cancellationReason"),
        from_webhook=True,
    )


def test_what_the_sandbox_sends_parses(sandbox: Sandbox) -> None:
    state = sandbox.world.damstra
    schedule = next(iter(state.schedules.values()))
    user = state.users[schedule.user_id]
    bodies = [
        sandbox_webhooks.schedule_created(schedule, RECEIVED_AT),
        sandbox_webhooks.schedule_completed(schedule, RECEIVED_AT),
        sandbox_webhooks.schedule_changed(schedule, RECEIVED_AT),
        sandbox_webhooks.schedule_cancelled(schedule, RECEIVED_AT, "SCHEDULE_CANCELLED_MANUALLY"),
        sandbox_webhooks.user_created(user, RECEIVED_AT),
        sandbox_webhooks.user_updated(user, None, RECEIVED_AT),  # an empty actingUserId
        sandbox_webhooks.user_inactivated(user, RECEIVED_AT),
    ]
    events = [parse_event(orjson.dumps(body), datetime.now(UTC)) for body in bodies]
    assert all(e is not None and e.user_id == str(user.id) and e.occurred_at == RECEIVED_AT for e in events)
    assert [e.schedule_id for e in events if e] == [str(schedule.id)] * 4 + [None] * 3
    assert SECRET_HEADER == sandbox_webhooks.SECRET_HEADER


def test_numbers_for_ids_and_a_missing_timestamp_are_tolerated() -> None:
    event = parse_event(b'{"name": "user.settings.updated", "userId": 1023}', RECEIVED_AT)
    assert event is not None and (event.user_id, event.occurred_at) == ("1023", RECEIVED_AT)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "not JSON"),
        (b'["lesson.schedule.created"]', "JSON object"),
        (b'{"userId": "1023"}', "name"),
        (b'{"name": 5}', "name"),
        (b'{"name": "lesson.schedule.created", "userID": "1023"}', "lessonScheduleId"),
        (b'{"name": "user.settings.updated", "timeStamp": "2017-01-16T01:33:27Z"}', "userId"),
        (b'{"name": "user.settings.updated", "userId": ["1023"]}', "userId"),
        (b'{"name": "user.settings.updated", "userId": "../1023"}', "userId"),
        (b'{"name": "user.settings.updated", "userId": "1023", "timeStamp": "yesterday"}', "timeStamp"),
        (b'{"name": "user.settings.updated", "userId": "1023", "timeStamp": 5}', "timeStamp"),
        (
            b'{"name": "lesson.schedule.cancelled", "lessonScheduleId": "1", "userID": "2", '
            b'"cancellationReason": 3}',
            "cancellationReason",
        ),
    ],
)
def test_bodies_that_are_no_event_are_refused_with_a_reason(body: bytes, why: str) -> None:
    with pytest.raises(BadWebhook, match=why):
        parse_event(body, RECEIVED_AT)


# -- the endpoint ------------------------------------------------------------------------------


async def test_an_event_is_accepted_and_published(hooks: Hooks) -> None:
    body, kind, _ = SEED_EVENTS[2]
    async with hooks.bus.subscribe() as events:
        response = await hooks.post(fresh(body))
        assert (response.status_code, response.json()) == (202, {"status": "accepted"})
        async with asyncio.timeout(1):
            event = await anext(events)
    assert (event.type, event.user_id, event.schedule_id) == (kind, "1023", "1233")


# -- repeats and stale bodies ------------------------------------------------------------------


def test_a_deliverys_identity_is_its_canonical_body() -> None:
    body = SEED_EVENTS[0][0]
    reordered = dict(reversed(list(body.items())))
    assert delivery_identity(body) == delivery_identity(reordered)
    assert delivery_identity(body) != delivery_identity({**body, "timeStamp": "2017-01-16T01:33:28.012Z"})


async def test_a_replayed_body_is_answered_202_and_published_once(hooks: Hooks) -> None:
    body = fresh(SEED_EVENTS[0][0])
    # The same event whatever the order of its keys or the spacing of its JSON.
    variants = [
        orjson.dumps(body),
        orjson.dumps(dict(reversed(list(body.items())))),
        b" " + orjson.dumps(body),
    ]
    received, duplicates = _webhook_metric("received"), _webhook_metric("duplicate")
    async with hooks.bus.subscribe() as events:
        answers = [await hooks.post(variants[n % 3]) for n in range(5)]
        async with asyncio.timeout(1):
            event = await anext(events)
        with pytest.raises(TimeoutError):  # and no second one
            await asyncio.wait_for(anext(events), 0.05)
    assert [a.status_code for a in answers] == [202] * 5
    assert [a.json()["status"] for a in answers] == ["accepted"] + ["duplicate"] * 4
    assert event.type is TrainingEventType.SCHEDULE_COMPLETED
    assert hooks.bus.published == 1
    assert (hooks.receiver.accepted, hooks.receiver.duplicates, hooks.receiver.stale) == (1, 4, 0)
    assert (_webhook_metric("received"), _webhook_metric("duplicate")) == (received + 5, duplicates + 4)


def _webhook_metric(result: str) -> float:
    return REGISTRY.get_sample_value("learngraph_webhook_events_total", {"result": result}) or 0.0


async def test_concurrent_copies_of_a_body_publish_once(hooks: Hooks) -> None:
    body = fresh(SEED_EVENTS[5][0])
    answers = await asyncio.gather(*(hooks.post(body) for _ in range(5)))
    assert sorted(a.json()["status"] for a in answers) == ["accepted"] + ["duplicate"] * 4
    await asyncio.sleep(0.05)
    assert hooks.bus.published == 1


async def test_another_stamp_is_another_delivery(hooks: Hooks) -> None:
    body = SEED_EVENTS[5][0]
    now = datetime.now(UTC)
    for seconds in (0, 1):
        stamp = (now - timedelta(seconds=seconds)).isoformat()
        assert (await hooks.post(fresh(body, timeStamp=stamp))).json()["status"] == "accepted"
    await asyncio.sleep(0.05)
    assert hooks.bus.published == 2


async def test_a_stale_body_is_answered_202_unpublished_and_still_drops_the_cache(hooks: Hooks) -> None:
    max_age = hooks.services.settings.webhook_max_age_seconds
    assert max_age == 600  # the default
    warm_cache(hooks)
    old = (datetime.now(UTC) - timedelta(seconds=max_age + 5)).isoformat()
    stale = _webhook_metric("stale")
    response = await hooks.post(fresh(SEED_EVENTS[5][0], timeStamp=old))
    assert _webhook_metric("stale") == stale + 1
    assert (response.status_code, response.json()) == (202, {"status": "stale"})
    assert cached(hooks) == {"user 1024", "lesson 300"}  # user 1023 and the groups: dropped
    await asyncio.sleep(0.05)
    assert hooks.bus.published == 0
    assert (hooks.receiver.accepted, hooks.receiver.duplicates, hooks.receiver.stale) == (0, 0, 1)
    # Just inside the window it is news.
    recent = (datetime.now(UTC) - timedelta(seconds=max_age - 5)).isoformat()
    assert (await hooks.post(fresh(SEED_EVENTS[5][0], timeStamp=recent))).json()["status"] == "accepted"


async def test_a_duplicate_still_drops_the_cache(hooks: Hooks) -> None:
    body = fresh(SEED_EVENTS[6][0])
    await hooks.post(body)
    warm_cache(hooks)
    assert (await hooks.post(body)).json()["status"] == "duplicate"
    assert "user 1023" not in cached(hooks)


async def test_the_memory_forgets_after_its_window() -> None:
    memory = InProcessDeliveries(window_seconds=0.05)
    assert await memory.remember("a") and not await memory.remember("a")
    assert await memory.remember("b")
    await asyncio.sleep(0.1)
    assert await memory.remember("a")


def test_the_window_is_configurable(sandbox: Sandbox) -> None:
    settings = load_settings({**sandbox.gateway_env(IN_PROCESS), "LEARNGRAPH_WEBHOOK_MAX_AGE_SECONDS": "60"})
    assert settings.webhook_max_age_seconds == 60


async def test_an_unknown_event_name_is_accepted_and_ignored(hooks: Hooks) -> None:
    response = await hooks.post({"name": "lesson.library.renamed", "lessonId": {"nested": True}})
    assert (response.status_code, response.json()) == (202, {"status": "ignored"})
    assert hooks.bus.published == 0


def warm_cache(hooks: Hooks) -> None:
    for user_id in ("1023", "1024"):
        hooks.services.cache.set("user", hooks.scope, user_id, f"user {user_id}")
    hooks.services.cache.set("group", hooks.scope, "200", "group 200")
    hooks.services.cache.set("lesson", hooks.scope, "300", "lesson 300")


def cached(hooks: Hooks) -> set[str]:
    keys = [("user", "1023"), ("user", "1024"), ("group", "200"), ("lesson", "300")]
    return {
        f"{kind} {key}"
        for kind, key in keys
        if hooks.services.cache.get(kind, hooks.scope, key) is not MISSING
    }


async def test_a_bad_body_gets_400_and_changes_nothing(hooks: Hooks) -> None:
    warm_cache(hooks)
    before = cached(hooks)
    for body in (b"{", b"[]", {"name": "user.settings.updated", "userId": {"id": "1023"}}):
        response = await hooks.post(body)
        assert response.status_code == 400 and response.json()["error"]
    assert cached(hooks) == before
    assert hooks.bus.published == 0


async def test_a_body_larger_than_any_event_gets_413(hooks: Hooks) -> None:
    response = await hooks.post({"name": "user.settings.updated", "userId": "1023", "pad": "x" * 70_000})
    assert response.status_code == 413
    assert hooks.bus.published == 0


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
async def test_a_missing_or_wrong_secret_gets_401_and_changes_nothing(
    hooks: Hooks, secret: str | None
) -> None:
    warm_cache(hooks)
    response = await hooks.post(SEED_EVENTS[5][0], secret=secret)
    assert response.status_code == 401
    assert SECRET not in response.text
    assert cached(hooks) == {"user 1023", "user 1024", "group 200", "lesson 300"}
    assert hooks.bus.published == 0


async def test_the_secret_may_ride_in_the_url_for_senders_that_take_only_a_uri(hooks: Hooks) -> None:
    response = await hooks.post(SEED_EVENTS[5][0], secret=None, params={"secret": SECRET})
    assert response.status_code == 202
    response = await hooks.post(SEED_EVENTS[5][0], secret=None, params={"secret": "wrong"})
    assert response.status_code == 401


async def test_without_a_configured_secret_every_post_is_refused(gateway: Gateway) -> None:
    assert gateway.services.settings.webhook_secret is None
    for headers in ({}, {SECRET_HEADER: "anything"}):
        response = await gateway.http.post("/webhooks/damstra", json=SEED_EVENTS[5][0], headers=headers)
        assert response.status_code == 403
        assert "LEARNGRAPH_WEBHOOK_SECRET" in response.json()["error"]
    assert cast(InProcessEventBus, gateway.services.events).published == 0


def test_start_up_says_whether_webhooks_are_received_and_never_the_secret(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.server.webhooks")
    log_receiver_state(load_settings(sandbox.gateway_env(IN_PROCESS)))
    assert "refused" in caplog.text and "LEARNGRAPH_WEBHOOK_SECRET" in caplog.text
    caplog.clear()
    log_receiver_state(secured_settings(sandbox, IN_PROCESS))
    assert "received" in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    ("index", "dropped"),
    [
        (0, set()),  # schedule completed: no cached record holds schedule data
        (1, set()),  # schedule changed
        (2, set()),  # schedule created
        (3, set()),  # schedule cancelled
        (4, {"user 1023", "group 200"}),  # user created: memberships may be new
        (5, {"user 1023", "group 200"}),  # user updated: the record, and memberships may move
        (6, {"user 1023"}),  # user inactivated: the record only
    ],
    ids=[b["name"] for b, *_ in SEED_EVENTS],
)
async def test_each_event_drops_exactly_the_entries_it_makes_stale(
    hooks: Hooks, index: int, dropped: set[str]
) -> None:
    warm_cache(hooks)
    response = await hooks.post(SEED_EVENTS[index][0])
    assert response.status_code == 202
    assert cached(hooks) == {"user 1023", "user 1024", "group 200", "lesson 300"} - dropped


async def test_an_echo_of_our_own_write_still_invalidates(hooks: Hooks) -> None:
    own = TrainingEvent(TrainingEventType.USER_UPDATED, Source.DAMSTRA, FIRED_AT, user_id="1023")
    assert await hooks.bus.publish(own)
    warm_cache(hooks)
    assert (await hooks.post(SEED_EVENTS[5][0])).status_code == 202
    assert "user 1023" not in cached(hooks)
    assert hooks.bus.published == 1  # the echo itself reached nobody


async def test_the_sender_is_answered_before_subscribers_are_served(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport
) -> None:
    from gateway.server.app import build_services, create_app

    release = asyncio.Event()
    published: list[TrainingEvent] = []

    class SlowBus(InProcessEventBus):
        async def publish(self, event: TrainingEvent) -> bool:
            await release.wait()
            published.append(event)
            return await super().publish(event)

    settings = secured_settings(sandbox, IN_PROCESS)
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    services.events = SlowBus()
    async with (
        serve_on_loopback(create_app(settings, services=services)) as address,
        httpx.AsyncClient(base_url=address) as http,
    ):
        async with asyncio.timeout(2):
            response = await http.post(
                "/webhooks/damstra", json=fresh(SEED_EVENTS[0][0]), headers={SECRET_HEADER: SECRET}
            )
        assert response.status_code == 202 and not published
        release.set()
        async with asyncio.timeout(2):
            while not published:  # noqa: ASYNC110 (polls state another task changes; no event to wait on)
                await asyncio.sleep(0.01)
    await services.upstreams.aclose()


# -- learngraph demo ---------------------------------------------------------------------------


@pytest.fixture
def demo_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What `learngraph demo` builds, without serving it."""
    parts: dict[str, Any] = {}
    build_sandbox = cli._build_sandbox

    def keep_sandbox(args: argparse.Namespace) -> Sandbox:
        parts["sandbox"] = build_sandbox(argparse.Namespace(**{**vars(args), "people": 3}))
        return cast(Sandbox, parts["sandbox"])

    def keep_settings(env: dict[str, str]) -> Settings:
        parts["settings"] = load_settings(env)
        return cast(Settings, parts["settings"])

    async def serve_nothing(*servers: object, ready: Callable[[], None] | None = None) -> None:
        if ready is not None:
            ready()  # the banner, as when both servers listen

    monkeypatch.setattr(cli, "_build_sandbox", keep_sandbox)
    monkeypatch.setattr(cli, "load_settings", keep_settings)
    monkeypatch.setattr(cli, "_serve", serve_nothing)
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    yield parts


def test_demo_shares_a_webhook_secret_between_sandbox_and_gateway(demo_parts: dict[str, Any]) -> None:
    assert cli.main(["demo", "--port", "8123"]) == 0
    settings: Settings = demo_parts["settings"]
    damstra = demo_parts["sandbox"].controls[Source.DAMSTRA]
    assert damstra.webhook_url == "http://127.0.0.1:8123/webhooks/damstra"
    assert settings.webhook_secret is not None
    assert damstra.webhook_secret == settings.webhook_secret.get_secret_value()
    assert len(damstra.webhook_secret) >= 24


def test_demo_turns_graphiql_and_introspection_on(
    demo_parts: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in cli.DEMO_BROWSER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["demo", "--port", "8123"]) == 0
    settings: Settings = demo_parts["settings"]
    assert settings.graphiql and settings.introspection and settings.fast_paths
