"""The index on both databases it supports: every test taking `index` runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.index.store import TrainingIndex
from tests.postgres_server import PostgresServer

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
async def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database's URL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'index.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return await server.create_database(f"index_{next(_databases)}")


@pytest.fixture
async def index(index_url: str) -> AsyncIterator[TrainingIndex]:
    opened = await TrainingIndex.open(index_url)
    yield opened
    await opened.close()
