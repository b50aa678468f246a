"""A gateway started with the index configured: its lifespan opens and migrates the index, and until the
sync has made a source LIVE the company-wide answers are the live path's, saying why."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import inspect

from gateway.index.store import SyncState, SyncStateName, TrainingIndex
from gateway.server.app import create_app
from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.server import Sandbox
from tests.conftest import AS_ADMIN


async def test_the_lifespan_opens_the_index_and_the_graph_waits_for_it(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path, index_url: str
) -> None:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    # The graph's side alone: the sync (tests/index/sync) would fill the index meanwhile.
    env = {**sandbox.gateway_env(sandbox_address, identity), **AS_ADMIN, "LEARNGRAPH_INDEX_SYNC": "false"}
    if index_url.startswith("sqlite"):
        env["LEARNGRAPH_INDEX_PATH"] = str(tmp_path / "nested" / "index.db")  # its directory made too
    else:
        env["LEARNGRAPH_INDEX_URL"] = index_url.replace("postgresql+asyncpg://", "postgresql://")
    app = create_app(load_settings(env))
    query = {"query": "{ completions(first: 3) { edges { node { id } } asOf } }"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as http,
    ):
        index: TrainingIndex = app.state.services.index
        async with index.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"accounts", "schedules", "completions", "sync_state", "alembic_version"} <= tables

        waiting = (await http.post("/graphql", json=query)).json()
        assert waiting["extensions"] == {"index": {"used": False, "reason": "DAMSTRA NOT_SYNCED"}}
        assert len(waiting["data"]["completions"]["edges"]) == 3  # the live path's

        for source in Source:
            await index.put_sync_state(SyncState(source, SyncStateName.LIVE))
        synced = (await http.post("/graphql", json=query)).json()
        # Nothing was indexed: LIVE and empty is an empty answer, from the index.
        assert synced == {
            "data": {"completions": {"edges": [], "asOf": None}},
            "extensions": {"index": {"used": True}},
        }
