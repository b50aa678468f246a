from __future__ import annotations

from pathlib import Path

from resolvers.schema import sdl

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_equals_the_exported_sdl() -> None:
    assert (ROOT / "schema.graphql").read_text() == sdl(), "run `make schema` and commit schema.graphql"


def test_contract_names_are_present() -> None:
    text = sdl()
    for name in ("interface Node", "enum Source", "enum ScheduleStatus", "type UserConnection", "totalCount"):
        assert name in text
