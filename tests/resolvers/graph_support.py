"""Helpers shared by the read-graph tests: global IDs, walking a connection, a gateway over any sandbox,
and the sandbox world's own answers (what the gateway should say, read from the data, not from it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import httpx

from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.server import Sandbox
from sandbox.world import World
from tests.conftest import AS_ADMIN, IN_PROCESS, Gateway
from tests.ids import gid

ROOT_FIELDS_PER_REQUEST = 10  # LEARNGRAPH_MAX_ROOT_FIELDS' default


async def data_in_parts(gateway: Gateway, fields: list[str]) -> dict[str, Any]:
    """The data of many aliased root fields, asked ten at a time (the default root-field limit)."""
    data: dict[str, Any] = {}
    for start in range(0, len(fields), ROOT_FIELDS_PER_REQUEST):
        data.update(
            await gateway.data("{ " + " ".join(fields[start : start + ROOT_FIELDS_PER_REQUEST]) + " }")
        )
    return data


@contextlib.asynccontextmanager
async def gateway_over(
    sandbox: Sandbox,
    tmp_path: Path,
    identity: list[dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Gateway]:
    """The `gateway` fixture's wiring over a sandbox of the test's own (a bigger world, an edited identity
    file, settings of its own in `env`)."""
    from gateway.server.app import build_services, create_app

    if identity is not None:
        sandbox.world.identity_entries[:] = identity
    identity_file = sandbox.write_identity_file(tmp_path / "identity.yaml")
    transport = httpx.ASGITransport(app=sandbox.asgi_app())
    settings = load_settings({**sandbox.gateway_env(IN_PROCESS, identity_file), **AS_ADMIN, **(env or {})})
    services = build_services(settings, transports={source: transport for source in Source})
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
    ) as http:
        yield Gateway(http, sandbox, services, app)
    await services.upstreams.aclose()


async def walk(
    gateway: Gateway, query: str, variables: dict[str, Any], path: str
) -> tuple[list[dict[str, Any]], int]:
    """Every node of the connection at `data[path]`, page after page with `after`; and how many pages it took."""
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        data = await gateway.data(query, {**variables, "after": after})
        connection = data
        for key in path.split("."):
            connection = connection[key]
        pages += 1
        nodes += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, pages
        after = connection["pageInfo"]["endCursor"]
        assert pages < 100, "the connection never ends"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(number: int | None) -> date | None:
    return date(number // 10000, number // 100 % 100, number % 100) if number else None


@dataclass(frozen=True)
class Done:
    """A completion as the sandbox holds it."""

    id: str
    source: str
    completed_at: datetime
    expires_on: date | None
    owner: tuple[Source, str]
    lesson: str

    @property
    def completed_day(self) -> date:
        return self.completed_at.astimezone(UTC).date()


def world_completions(world: World) -> list[Done]:
    """Every completion in the world, read from each source as docs/contract.md §6 says."""
    done: list[Done] = []
    for s in world.damstra.schedules.values():
        if s.status == "completed" and s.completed is not None:
            done.append(
                Done(
                    gid(f"Completion:damstra:{s.id}"),
                    "DAMSTRA",
                    s.completed,
                    None,
                    (Source.DAMSTRA, str(s.user_id)),
                    gid(f"Lesson:damstra:{s.lesson_id}"),
                )
            )
    for t in world.learninglogin.train_sessions.values():
        if t.completion_date is not None:
            done.append(
                Done(
                    gid(f"Completion:learninglogin:{t.id}"),
                    "LEARNINGLOGIN",
                    datetime.combine(t.completion_date, time.min, tzinfo=UTC),
                    t.cert_expiry,
                    (Source.LEARNINGLOGIN, str(t.login_id)),
                    gid(f"Lesson:learninglogin:{t.course_code}"),
                )
            )
    for r in world.training_records.records.values():
        if r.date_completed is not None:
            done.append(
                Done(
                    gid(f"Completion:training_records:{r.api_id}"),
                    "TRAINING_RECORDS",
                    r.date_completed,
                    None,
                    (Source.TRAINING_RECORDS, r.person_api_id),
                    gid(f"Lesson:training_records:{r.package_api_id}"),
                )
            )
    for c in world.iscout.completions:
        completed = day(c.date_number)
        assert completed is not None
        done.append(
            Done(
                gid(f"Completion:iscout:{c.user_id}:{c.training_id}:{c.created_ms}"),
                "ISCOUT",
                datetime.combine(completed, time.min, tzinfo=UTC),
                day(c.special_expiration_date_number),
                (Source.ISCOUT, c.user_id),
                gid(f"Lesson:iscout:{c.training_id}"),
            )
        )
    return done
