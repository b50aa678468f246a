"""Two `learngraph serve` processes sharing one redis-server and one sandbox process, as two replicas
behind a load balancer: events, idempotency keys and cache invalidations hold across them, and Redis
stopped mid-run costs only keyed writes, until it is back (with no gateway restarted)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from sandbox.server import free_port
from tests.redis_server import RedisServer
from tests.server.processes import Process, reset_sandbox_stats, sandbox_writes, start_gateway, start_sandbox


def fired_now() -> str:
    """A fresh timeStamp, to the microsecond: a body like no other before (not a duplicate, not stale)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


SECRET = "replicas-test-secret"
USER = "10003"
USER_ID = base64.b64encode(f"User:damstra:{USER}".encode()).decode()
SCHEDULE = """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
    schedules { id status lesson { id name } } results { lessonId schedule { id } userErrors { code } }
    userErrors { field message code } } }"""
UPDATE = """mutation($input: UpdateUserInput!) { updateUser(input: $input) {
    user { id firstName } userErrors { field message code } } }"""
NAME = "query($id: ID!) { user(id: $id) { firstName } }"
TAKEN = """query($id: ID!) { user(id: $id) { schedules(first: 500) { edges { node { lesson { id } } } } }
    lessons(source: DAMSTRA, status: [ACTIVE], first: 100) { edges { node { id } } } }"""


class Replicas:
    def __init__(self, redis: RedisServer, sandbox: Process, a: Process, b: Process) -> None:
        self.redis, self.sandbox, self.a, self.b = redis, sandbox, a, b
        self._keys = 0

    def key(self) -> str:
        self._keys += 1
        return f"replicas-{self._keys}"

    def free_lesson(self) -> str:
        data = self.b.post(TAKEN, {"id": USER_ID})
        taken = {e["node"]["lesson"]["id"] for e in data["user"]["schedules"]["edges"] if e["node"]["lesson"]}
        free = [e["node"]["id"] for e in data["lessons"]["edges"] if e["node"]["id"] not in taken]
        lesson: str = free[0]
        return lesson


@pytest.fixture(scope="module")
def replicas(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    if redis_server.process is None:
        redis_server.restart()
    workdir = tmp_path_factory.mktemp("replicas")
    port_a = free_port()
    # The sandbox's DAMSTRA posts its webhooks to A, as a load balancer would send them to one replica.
    sandbox = start_sandbox(
        workdir, webhook_url=f"http://127.0.0.1:{port_a}/webhooks/damstra", webhook_secret=SECRET
    )
    env = {"LEARNGRAPH_REDIS_URL": redis_server.url, "LEARNGRAPH_WEBHOOK_SECRET": SECRET}
    started: list[Process] = [sandbox]
    try:
        a = start_gateway(workdir, "a", sandbox, env, port=port_a)
        started.append(a)
        b = start_gateway(workdir, "b", sandbox, env)
        started.append(b)
        yield Replicas(redis_server, sandbox, a, b)
    finally:
        for process in reversed(started):
            process.stop()
        if redis_server.process is None:
            redis_server.restart()


@contextlib.asynccontextmanager
async def subscription(gateway: Process) -> AsyncIterator[ClientConnection]:
    url = gateway.address.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        query = "subscription { trainingEvents { type userId } }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        yield ws


async def post_webhook(gateway: Process, user: str) -> None:
    hook = {"name": "user.settings.updated", "userId": user, "timeStamp": fired_now()}
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{gateway.address}/webhooks/damstra", json=hook, headers={"X-LearnGraph-Webhook-Secret": SECRET}
        )
    assert answer.status_code == 202, answer.text


async def events(ws: ClientConnection, wait: float) -> list[dict[str, Any]]:
    """What arrives on the subscription within `wait` of the last one."""
    got: list[dict[str, Any]] = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), wait))
        except TimeoutError:
            return got
        assert message["type"] == "next", message
        got.append(message["payload"]["data"]["trainingEvents"])


async def subscribed(gateway: Process, ws: ClientConnection) -> None:
    """Until the subscription sees events: webhooks for a bystander, posted until one arrives."""
    for _ in range(50):
        await post_webhook(gateway, "10001")
        if await events(ws, 0.2):
            return
    raise AssertionError("the subscription never started")


def user_gid(native: str) -> str:
    return base64.b64encode(f"User:damstra:{native}".encode()).decode()


async def test_a_webhook_posted_to_a_reaches_a_subscriber_on_b_exactly_once(replicas: Replicas) -> None:
    await webhook_at_a_reaches_b_once(replicas)


async def webhook_at_a_reaches_b_once(replicas: Replicas) -> None:
    async with subscription(replicas.b) as on_b, subscription(replicas.a) as on_a:
        await subscribed(replicas.a, on_b)
        await subscribed(replicas.a, on_a)
        await events(on_b, 0.5)
        await events(on_a, 0.5)
        await post_webhook(replicas.a, USER)
        expected = [{"type": "USER_UPDATED", "userId": user_gid(USER)}]
        assert await events(on_b, 1.5) == expected
        assert await events(on_a, 0.5) == expected


def schedule_both(replicas: Replicas, input_value: dict[str, Any]) -> list[dict[str, Any]]:
    """The same input sent to A and to B at the same moment (two at each)."""
    gateways = [replicas.a, replicas.b, replicas.a, replicas.b]
    with ThreadPoolExecutor(len(gateways)) as pool:
        answers = list(
            pool.map(lambda g: g.post(SCHEDULE, {"input": input_value})["scheduleLessons"], gateways)
        )
    return answers


def test_one_key_sent_to_a_and_b_at_once_writes_once_and_both_get_the_same_answer(replicas: Replicas) -> None:
    input_value = {"userId": USER_ID, "lessonIds": [replicas.free_lesson()], "idempotencyKey": replicas.key()}
    reset_sandbox_stats(replicas.sandbox)
    answers = schedule_both(replicas, input_value)
    assert all(answer == answers[0] for answer in answers), answers
    assert (
        answers[0]["userErrors"] == []
        and answers[0]["schedules"][0]["lesson"]["id"] == input_value["lessonIds"][0]
    )
    assert sandbox_writes(replicas.sandbox) == {"POST /user/{id}/lesson_schedule": 1}


def test_a_write_through_a_then_a_read_through_b_shows_the_write(replicas: Replicas) -> None:
    before = replicas.b.post(NAME, {"id": USER_ID})["user"]["firstName"]
    assert replicas.b.post(NAME, {"id": USER_ID})["user"]["firstName"] == before  # cached by B now
    for name in ("Written-through-A", "Again-through-A"):
        updated = replicas.a.post(UPDATE, {"input": {"userId": USER_ID, "firstName": name}})["updateUser"]
        assert updated["userErrors"] == []
        assert replicas.b.post(NAME, {"id": USER_ID})["user"]["firstName"] == name


def readyz(gateway: Process) -> dict[str, Any]:
    answer = httpx.get(f"{gateway.address}/readyz", timeout=10)
    assert answer.status_code == 200, answer.text  # whatever Redis does
    body: dict[str, Any] = answer.json()
    return body


def test_redis_stopped_mid_run_costs_keyed_writes_only_and_all_recovers_when_it_is_back(
    replicas: Replicas,
) -> None:
    a, b = replicas.a, replicas.b
    replicas.redis.stop()
    try:
        # Reads answer, from the upstreams.
        for gateway in (a, b):
            assert gateway.post(NAME, {"id": USER_ID})["user"]["firstName"]
        # A keyed write is refused, and nothing reaches the upstream.
        reset_sandbox_stats(replicas.sandbox)
        input_value = {
            "userId": USER_ID,
            "lessonIds": [replicas.free_lesson()],
            "idempotencyKey": replicas.key(),
        }
        refused = b.post(SCHEDULE, {"input": input_value})["scheduleLessons"]
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("IDEMPOTENCY_UNAVAILABLE", ["idempotencyKey"])
        ]
        assert sandbox_writes(replicas.sandbox) == {}
        for gateway in (a, b):
            assert readyz(gateway)["redis"]["status"] == "unavailable"
    finally:
        replicas.redis.restart()
    # Back: no restart of either gateway; both reconnect and resubscribe by themselves.
    for gateway in (a, b):
        for _ in range(100):
            if readyz(gateway)["redis"] == {"status": "ok"}:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"{gateway.name} did not reconnect to Redis")
    answers = schedule_both(replicas, input_value)
    assert all(answer == answers[0] for answer in answers) and answers[0]["userErrors"] == []
    assert sandbox_writes(replicas.sandbox) == {"POST /user/{id}/lesson_schedule": 1}
    asyncio.run(webhook_at_a_reaches_b_once(replicas))
    test_a_write_through_a_then_a_read_through_b_shows_the_write(replicas)


def test_readyz_tells_each_upstream_and_redis(replicas: Replicas) -> None:
    body = readyz(replicas.a)
    assert body["status"] == "ready"
    assert body["redis"] == {"status": "ok"}
    assert set(body["upstreams"]) == {"DAMSTRA", "LEARNINGLOGIN", "TRAINING_RECORDS", "ISCOUT"}
