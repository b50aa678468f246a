"""GraphQL over HTTP as its own audit judges it: npm graphql-http 1.23.1's `auditServer` against a live gateway
on loopback, on the lean POST path and on Strawberry's view, must pass every MUST and every SHOULD.

The audit runs in node (tests/server/tools: graphql-http and graphql pinned by version and integrity, installed
by `npm ci` once per lock file); each of its requests carries an API key through its `fetchFn`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS
from tests.npm_tools import node, npm_install

TOOLS = Path(__file__).with_name("tools")
AUDIT = "audit-graphql-http.mjs"
API_KEY = "graphql-over-http-audit-0123456789"
AUDIT_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return npm_install(TOOLS, "server-tools")


@pytest.fixture(params=["fast-paths", "strawberry-only"])
async def address(
    request: pytest.FixtureRequest, sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[str]:
    """A gateway on loopback that takes only API keys (no anonymous callers), introspection on: the audit
    asks `__type` in a few of its requests."""
    from gateway.server.app import build_services, create_app
    from gateway.settings import load_settings

    keys = tmp_path / "keys.yaml"
    keys.write_text(
        f"keys:\n  - name: audit\n    sha256: {hashlib.sha256(API_KEY.encode()).hexdigest()}\n    role: ADMIN\n"
    )
    env = {
        **sandbox.gateway_env(IN_PROCESS, sandbox.write_identity_file(tmp_path / "identity.yaml")),
        "LEARNGRAPH_API_KEYS_FILE": str(keys),
        "LEARNGRAPH_INTROSPECTION": "true",
        "LEARNGRAPH_FAST_PATHS": "true" if request.param == "fast-paths" else "false",
    }
    settings = load_settings(env)
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    try:
        async with serve_on_loopback(create_app(settings, services=services)) as served:
            yield served
    finally:
        await services.upstreams.aclose()


async def audit(node_modules: Path, url: str, headers: dict[str, str], folder: Path) -> list[dict[str, Any]]:
    # Node resolves an ES module's imports from the script's own folder: the script sits beside the modules.
    await asyncio.to_thread(_beside, node_modules, folder)
    process = await asyncio.create_subprocess_exec(
        node(),
        str(folder / AUDIT),
        url,
        env={**os.environ, "LEARNGRAPH_AUDIT_HEADERS": json.dumps(headers)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), AUDIT_TIMEOUT_SECONDS)
    assert process.returncode == 0, stderr.decode()
    report: list[dict[str, Any]] = json.loads(stdout)
    return report


def _beside(node_modules: Path, folder: Path) -> None:
    folder.mkdir()
    (folder / AUDIT).write_bytes((TOOLS / AUDIT).read_bytes())
    (folder / "node_modules").symlink_to(node_modules, target_is_directory=True)


def tally(report: list[dict[str, Any]], level: str) -> tuple[int, int]:
    """(passed, run) of the audits at one requirement level."""
    audits = [a for a in report if a["name"].startswith(f"{level} ")]
    return sum(a["status"] == "ok" for a in audits), len(audits)


async def test_the_graphql_http_audit_passes_every_must_and_should(
    node_modules: Path, address: str, tmp_path: Path
) -> None:
    url = f"{address}/graphql"
    async with httpx.AsyncClient() as client:  # the credential is what lets the audit in
        assert (await client.post(url, json={"query": "{ __typename }"})).status_code == 401
    report = await audit(node_modules, url, {"X-API-Key": API_KEY}, tmp_path / "audit")
    failed = [a for a in report if a["status"] != "ok" and not a["name"].startswith("MAY ")]
    assert not failed, json.dumps(failed, indent=2)
    assert (tally(report, "MUST"), tally(report, "SHOULD")) == ((13, 13), (23, 23))
    assert tally(report, "MAY") == (25, 25), [a for a in report if a["status"] != "ok"]
