"""LearnGraph as an Apollo Federation subgraph: its `_service { sdl }` composed with a second subgraph
by `@apollo/composition`, queried through a real Apollo Gateway on loopback (tests/federation/tools:
pinned by version and integrity hash, installed by `npm ci` once per lock file, as tests/deploy does)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.data.callers import Caller, PersonRef, Role
from gateway.server.app import build_services, create_app
from gateway.settings import load_settings
from gateway.sources import Source
from resolvers.schema import subgraph_sdl
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS
from tests.npm_tools import npm_install
from tests.tokens import fixture_issuer

HERE = Path(__file__).parent
TOOLS = HERE / "tools"
ADMIN = Caller("supergraph", Role.ADMIN)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The pinned Apollo packages, installed by `npm ci` (integrity-checked) once per lock file."""
    return npm_install(TOOLS, "federation-tools")


@pytest.fixture
async def learngraph(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[str]:
    """LearnGraph on a loopback port, callers with the fixture issuer's tokens only."""
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    settings = load_settings({**sandbox.gateway_env(IN_PROCESS, identity), **fixture_issuer().env})
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    try:
        async with serve_on_loopback(create_app(settings, services=services)) as address:
            yield f"{address}/graphql"
    finally:
        await services.upstreams.aclose()


async def post(url: str, caller: Caller, query: str, variables: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(headers=fixture_issuer().headers(caller), timeout=30) as client:
        response = await client.post(url, json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()


PEOPLE = "{ users(first: 4) { edges { node { id email fullName } } } }"
ENTITIES = """query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { email fullName } ... on Lesson { id name } }
}"""


async def _people(url: str) -> list[dict[str, str]]:
    body = await post(url, ADMIN, PEOPLE)
    return [edge["node"] for edge in body["data"]["users"]["edges"]]


async def test_the_subgraph_sdl_is_the_served_schema(learngraph: str) -> None:
    body = await post(learngraph, ADMIN, "{ _service { sdl } }")
    sdl = body["data"]["_service"]["sdl"]
    assert sdl == subgraph_sdl()
    assert 'type User implements Node @key(fields: "id") @key(fields: "email")' in sdl
    assert 'type Lesson implements Node @key(fields: "id")' in sdl
    # schema.graphql: the same, with the definitions of federation's directives it applies.
    exported = (HERE.parents[1] / "schema.graphql").read_text()
    assert exported.startswith(sdl) and "directive @key(" in exported


async def test_entities_resolve_by_each_key_through_the_access_rules(learngraph: str) -> None:
    people = await _people(learngraph)
    ana, other = people[0], people[1]
    lessons = await post(
        learngraph, ADMIN, "{ lessons(source: DAMSTRA, first: 1) { edges { node { id name } } } }"
    )
    lesson = lessons["data"]["lessons"]["edges"][0]["node"]
    representations = [
        {"__typename": "User", "email": ana["email"].upper()},
        {"__typename": "User", "id": other["id"]},
        {"__typename": "Lesson", "id": lesson["id"]},
        {"__typename": "User", "email": "nobody@example.com"},
    ]
    body = await post(learngraph, ADMIN, ENTITIES, {"representations": representations})
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [
        {"email": ana["email"], "fullName": ana["fullName"]},
        {"email": other["email"], "fullName": other["fullName"]},
        lesson,
        None,
    ]
    # A trainee finds themselves, and nobody else, by either key.
    trainee = Caller("trainee", Role.TRAINEE, PersonRef.parse(ana["email"]))
    body = await post(
        learngraph,
        trainee,
        ENTITIES,
        {"representations": [representations[0], {"__typename": "User", "email": other["email"]}]},
    )
    assert body["data"]["_entities"] == [{"email": ana["email"], "fullName": ana["fullName"]}, None]
    body = await post(learngraph, trainee, ENTITIES, {"representations": [representations[1]]})
    assert body["data"]["_entities"] == [None]  # as `user(id:)` answers them


@pytest.mark.parametrize(
    "representation",
    [
        ["a list"],
        {"email": "x@example.com"},
        {"__typename": "Group", "id": "1"},
        {"__typename": "User", "name": "x"},
    ],
)
async def test_a_representation_that_names_no_entity_is_the_callers_mistake(
    learngraph: str, representation: object
) -> None:
    body = await post(learngraph, ADMIN, ENTITIES, {"representations": [representation]})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@contextlib.asynccontextmanager
async def supergraph(
    node_modules: Path, learngraph: str, employees: list[dict[str, str]], work: Path
) -> AsyncIterator[str]:
    """The composed supergraph's gateway URL."""
    (work / "node_modules").symlink_to(node_modules)
    shutil.copyfile(HERE / "supergraph.mjs", work / "supergraph.mjs")
    body = await post(learngraph, ADMIN, "{ _service { sdl } }")
    (work / "learngraph.graphql").write_text(body["data"]["_service"]["sdl"])
    (work / "employees.json").write_text(json.dumps(employees))
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        "supergraph.mjs",
        learngraph,
        "learngraph.graphql",
        "employees.json",
        cwd=work,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        async with asyncio.timeout(60):
            while not (line := await process.stdout.readline()).startswith(b"SUPERGRAPH "):
                if not line:
                    errors = (await process.stderr.read()).decode()
                    raise AssertionError(f"the supergraph did not start:\n{errors}")
        yield json.loads(line.removeprefix(b"SUPERGRAPH "))["gateway"]
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


JOINED = "{ employees { name department training { email fullName department } } }"
EXTENDED = "{ users(first: 4) { edges { node { email fullName department } } } }"


async def test_a_real_gateway_joins_learngraph_with_another_subgraph(
    node_modules: Path, learngraph: str, tmp_path: Path
) -> None:
    people = await _people(learngraph)
    employees = [
        {"email": person["email"], "name": f"Employee {n}", "department": f"Department {n}"}
        for n, person in enumerate(people[:3])
    ]
    async with supergraph(node_modules, learngraph, employees, tmp_path) as gateway:
        # The employees subgraph's Employee, joined to LearnGraph's User by email (LearnGraph's _entities).
        body = await post(gateway, ADMIN, JOINED)
        assert "errors" not in body, body
        assert body["data"]["employees"] == [
            {
                "name": employee["name"],
                "department": employee["department"],
                "training": {
                    "email": person["email"],
                    "fullName": person["fullName"],
                    "department": employee["department"],
                },
            }
            for employee, person in zip(employees, people, strict=False)
        ]
        # And LearnGraph's User extended with the employees subgraph's department.
        body = await post(gateway, ADMIN, EXTENDED)
        assert "errors" not in body, body
        departments = {e["email"]: e["department"] for e in employees}
        assert [edge["node"] for edge in body["data"]["users"]["edges"]] == [
            {"email": p["email"], "fullName": p["fullName"], "department": departments.get(p["email"])}
            for p in people
        ]
        # Through the gateway LearnGraph's access rules hold: a trainee's token sees their own training only.
        trainee = Caller("trainee", Role.TRAINEE, PersonRef.parse(people[0]["email"]))
        body = await post(gateway, trainee, JOINED)
        trainings = [employee["training"] for employee in body["data"]["employees"]]
        assert trainings[0] == {
            "email": people[0]["email"],
            "fullName": people[0]["fullName"],
            "department": "Department 0",
        }
        assert trainings[1:] == [None, None]
