"""The four sandbox upstreams, together: one world, one set of controls each, one ASGI app.

sandbox = Sandbox.build(people=50)
app = sandbox.asgi_app()                     # mounts every vendor under its own prefix
env = sandbox.gateway_env("http://127.0.0.1:8100")   # LEARNGRAPH_* variables pointing at it
sandbox.issuer.gateway_env("http://127.0.0.1:8100")  # LEARNGRAPH_JWT_* trusting its token issuer (/oidc)

A process that serves a sandbox calls `settle()` once everything is built, just before serving.

Sandbox-only admin routes, for benchmarks in another process (no vendor has them):
`GET /_sandbox/stats` counts each upstream's requests by method and path shape
(`GET /user/{id}/lesson_schedule`); `POST /_sandbox/stats/reset` empties the request logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType

import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from gateway.settings import secret_variable
from gateway.sources import Source
from sandbox.controls import SandboxControls
from sandbox.oidc import MOUNT as OIDC_MOUNT
from sandbox.oidc import SandboxIssuer
from sandbox.world import World, build_world


def vendor_module(source: Source) -> ModuleType:
    """`sandbox.<slug>`: a vendor's app (`create_app`), where it is mounted (`MOUNT`) and its key."""
    return importlib.import_module(f"sandbox.{source.slug}")


MOUNTS: dict[Source, str] = {source: vendor_module(source).MOUNT for source in Source}
CREDENTIALS: dict[Source, str] = {source: vendor_module(source).CREDENTIAL for source in Source}
# The collector's thresholds once settled: a first generation of 10,000 (not 700) objects runs the
# young collections ~14x less often. With the freeze, measured in-process at 5000 people over 20,000
# requests: half the GC time, no full collection, and the longest pause 15-20 ms instead of 80-130 ms.
SERVING_GC_THRESHOLDS = (10_000, 10, 10)
ADMIN_PREFIX = "/_sandbox"
_ID_SEGMENT = re.compile(r"\d")  # ids hold digits (10001, rec-00042, 5804f0...); route words do not


def path_shape(path: str) -> str:
    """`/user/10001/lesson_schedule` -> `/user/{id}/lesson_schedule`: one key per endpoint."""
    return "/".join("{id}" if _ID_SEGMENT.search(part) else part for part in path.split("/"))


@dataclass
class Sandbox:
    world: World
    controls: dict[Source, SandboxControls]
    issuer: SandboxIssuer

    @classmethod
    def build(cls, people: int = 50, seed: int = 7, anchor: datetime | None = None) -> Sandbox:
        world = build_world(people=people, seed=seed, anchor=anchor)
        controls = {source: SandboxControls(credential=CREDENTIALS[source]) for source in Source}
        return cls(world, controls, SandboxIssuer.from_seed(seed))

    def app_for(self, source: Source) -> ASGIApp:
        """One vendor's app (routes relative to its base URL), wrapped in its controls."""
        app: ASGIApp = vendor_module(source).create_app(self.world, self.controls[source])
        return app

    def asgi_app(self) -> Starlette:
        routes: list[BaseRoute] = [Mount(MOUNTS[source], app=self.app_for(source)) for source in Source]
        routes.append(Mount(OIDC_MOUNT, app=self.issuer.asgi_app()))
        routes += [
            Route(f"{ADMIN_PREFIX}/stats", self._stats, methods=["GET"]),
            Route(f"{ADMIN_PREFIX}/stats/reset", self._reset_stats, methods=["POST"]),
        ]
        return Starlette(routes=routes)

    def request_counts(self) -> dict[str, dict[str, int]]:
        """Per source (by name): requests by `METHOD /path/{id}/shape`, busiest first."""
        counts: dict[str, dict[str, int]] = {}
        for source in Source:
            shapes = Counter(f"{e.method} {path_shape(e.path)}" for e in self.controls[source].log.entries)
            counts[source.name] = dict(shapes.most_common())
        return counts

    async def _stats(self, request: Request) -> Response:
        counts = self.request_counts()
        totals = {name: sum(by_shape.values()) for name, by_shape in counts.items()}
        return JSONResponse({"total": sum(totals.values()), "totals": totals, "requests": counts})

    async def _reset_stats(self, request: Request) -> Response:
        for controls in self.controls.values():
            controls.log.clear()
        return Response(status_code=204)

    def base_url(self, address: str, source: Source) -> str:
        return address.rstrip("/") + MOUNTS[source]

    def gateway_env(self, address: str, identity_file: Path | None = None) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in Source:
            env[f"LEARNGRAPH_{source.slug.upper()}_URL"] = self.base_url(address, source)
            env[f"LEARNGRAPH_{secret_variable(source).upper()}"] = CREDENTIALS[source]
        # The forms the vendors' documents leave open: the gateway sends the ones this sandbox takes.
        env["LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD"] = self.controls[Source.DAMSTRA].update_user_method
        env["LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM"] = self.controls[
            Source.LEARNINGLOGIN
        ].unassign_ids_form
        if identity_file is not None:
            env["LEARNGRAPH_IDENTITY_FILE"] = str(identity_file)
        return env

    def identity_yaml(self) -> str:
        return yaml.safe_dump({"people": self.world.identity_entries}, sort_keys=False)

    def write_identity_file(self, path: Path) -> Path:
        path.write_text(self.identity_yaml())
        return path


def settle() -> None:
    """Ready this process to serve a built sandbox: for `learngraph sandbox` and `demo`, not for tests.

    A 5000-person world is ~130,000 objects that live as long as the process. `gc.freeze()` moves
    everything alive now out of the collector's reach, so a full collection no longer walks the world
    (135-169 ms each at 5000 people); `SERVING_GC_THRESHOLDS` then makes collections rarer.
    Process-wide: call it after the sandbox (and, for `demo`, the gateway app) is built.
    """
    gc.collect()  # garbage from building, collected rather than frozen
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve_on_loopback(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run `app` under uvicorn on a loopback port for the duration of the block; yields its address."""
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="auto")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
