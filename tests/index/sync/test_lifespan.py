"""`serve` with an index: the lifespan starts the sync, the gateway serves at once, each source goes
from BACKFILLING to LIVE on its own, and the company-wide rows match the upstream's."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from gateway.server.app import create_app
from gateway.settings import load_settings
from sandbox.server import Sandbox
from tests.conftest import AS_ADMIN

STATUS = "{ syncStatus { source state rows lastSyncedAt } }"


async def test_serve_with_an_index_path_syncs_every_source_to_live(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path
) -> None:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {**AS_ADMIN, **sandbox.gateway_env(sandbox_address, identity)}
    env["LEARNGRAPH_INDEX_PATH"] = str(tmp_path / "index" / "learngraph.db")
    app = create_app(load_settings(env))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g.test") as http,
    ):
        seen: set[str] = set()
        started = time.perf_counter()
        while True:
            answer = (await http.post("/graphql", json={"query": STATUS})).json()
            states = {s["source"]: s for s in answer["data"]["syncStatus"]}
            seen |= {s["state"] for s in states.values()}
            if all(s["state"] == "LIVE" for s in states.values()):
                break
            assert time.perf_counter() - started < 60, states
            await asyncio.sleep(0.05)
        assert states["TRAINING_RECORDS"]["rows"] >= len(sandbox.world.training_records.records)
        assert all(s["lastSyncedAt"] for s in states.values())
        ready = (await http.get("/readyz")).json()
        assert {v["state"] for v in ready["sync"].values()} == {"LIVE"}
    assert (tmp_path / "index" / "learngraph.db").exists()

    # A replica that only serves (LEARNGRAPH_INDEX_SYNC=false) tells the status the syncer saved.
    serving = create_app(load_settings({**env, "LEARNGRAPH_INDEX_SYNC": "false"}))
    async with (
        serving.router.lifespan_context(serving),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=serving), base_url="http://g.test") as http,
    ):
        assert serving.state.services.sync is None
        answer = (await http.post("/graphql", json={"query": STATUS})).json()
        told = {s["source"]: s for s in answer["data"]["syncStatus"]}
        assert {s["state"] for s in told.values()} == {"LIVE"}
        assert {k: s["rows"] for k, s in told.items()} == {k: s["rows"] for k, s in states.items()}
        assert all(s["lastSyncedAt"] for s in told.values())
