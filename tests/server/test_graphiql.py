"""GraphiQL from LearnGraph's own files: the page names only assets the gateway serves itself, with no
credential, and those assets are the pinned npm files gateway/server/graphiql/README.md lists."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from gateway.server.graphiql import STATIC_DIRECTORY, render_page
from sandbox.server import Sandbox
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway
from tests.tokens import fixture_issuer

README = STATIC_DIRECTORY.parent / "README.md"
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
CONFIG = re.compile(r'<script id="learngraph-graphiql-config" type="application/json">(.*?)</script>', re.S)


@pytest.fixture
async def with_graphiql(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """A gateway with GraphiQL on that takes no anonymous caller: the page and its assets need no credential."""
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {"LEARNGRAPH_GRAPHIQL": "true", "LEARNGRAPH_ALLOW_ANONYMOUS": "false", **fixture_issuer().env}
    async for gateway in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        yield gateway


def assets_of(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


async def test_the_page_loads_only_the_gateways_own_files(with_graphiql: Gateway) -> None:
    page = await with_graphiql.http.get("/graphql", headers=BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = assets_of(page.text)
    # Relative to /graphql, so a path prefix a proxy adds holds for them too; no other host named.
    assert all(a.startswith(("graphiql/static/", "data:")) for a in assets), assets
    assert not re.search(r"(https?:)?//", page.text.replace("data:,", ""))
    served = {}
    for asset in (a for a in assets if not a.startswith("data:")):
        response = await with_graphiql.http.get(f"/{asset}")  # no credential
        assert response.status_code == 200, asset
        served[asset.rsplit("/", 1)[1]] = response.headers["content-type"].split(";")[0]
    assert served == {
        "graphiql.min.css": "text/css",
        "plugin-explorer.css": "text/css",
        "react.production.min.js": "text/javascript",
        "react-dom.production.min.js": "text/javascript",
        "graphiql.min.js": "text/javascript",
        "plugin-explorer.umd.js": "text/javascript",
        "learngraph-graphiql.js": "text/javascript",
    }
    # The door stays shut beside them.
    assert (await with_graphiql.http.post("/graphql", json={"query": "{ __typename }"})).status_code == 401
    assert (await with_graphiql.http.get("/graphiql/static/nothing.js")).status_code == 404
    # The open prefix opens nothing else: a path climbing out of it stays in the static files (404).
    for climbing in ("/graphiql/static/../../graphql", "/graphiql/static/../../certificates/1"):
        assert await raw_status(with_graphiql.app, climbing) == 404


async def raw_status(app: Starlette, path: str) -> int:
    """The status of a GET of `path` as sent, not normalised (httpx resolves `..` before sending)."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"gateway.test"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 1),
        "server": ("gateway.test", 80),
    }
    await app(scope, receive, send)
    status: int = sent[0]["status"]
    return status


async def test_without_graphiql_there_are_no_assets(gateway: Gateway) -> None:
    assert (await gateway.http.get("/graphiql/static/graphiql.min.js")).status_code == 404


def test_the_config_cannot_close_its_script_element() -> None:
    hostile = {"X-Note": "</script><script>alert(1)</script><!--"}
    page = render_page(starter_query="{ __typename } # </script>", headers=hostile)
    (config,) = CONFIG.findall(page)
    assert "<" not in config
    assert json.loads(config) == {"starterQuery": "{ __typename } # </script>", "headers": hostile}


def test_the_assets_are_the_pinned_npm_files() -> None:
    rows = re.findall(
        r"^\| `([^`]+)` \| `([^`]+)` \| `[^`]+` \| MIT \| `([0-9a-f]{64})` \|$", README.read_text(), re.M
    )
    listed = {name: digest for name, _, digest in rows}
    assert len(listed) == 6
    ours = {"learngraph-graphiql.js"}
    assert {p.name for p in STATIC_DIRECTORY.iterdir()} == set(listed) | ours
    for name, digest in listed.items():
        assert hashlib.sha256((STATIC_DIRECTORY / name).read_bytes()).hexdigest() == digest, name
    versions = {package for _, package, _ in rows}
    assert versions == {
        "graphiql@3.8.3",
        "@graphiql/plugin-explorer@3.2.5",
        "react@18.3.1",
        "react-dom@18.3.1",
    }


def test_the_page_names_every_asset_the_package_ships() -> None:
    page = render_page(starter_query="{ __typename }", headers={})
    named = {a.rsplit("/", 1)[1] for a in assets_of(page) if not a.startswith("data:")}
    assert named == {p.name for p in STATIC_DIRECTORY.iterdir()}


def test_a_subscription_from_the_page_sends_its_headers_in_connection_init() -> None:
    # What the browser test shows running, read here in the script: the WebSocket's connection_init
    # payload is the headers (graphql-ws's connectionParams), and the socket is the page's own URL.
    script = (STATIC_DIRECTORY / "learngraph-graphiql.js").read_text()
    assert "wsConnectionParams: headers" in script and "subscriptionUrl: subscriptionUrl" in script
    assert 'url.replace(/^http/, "ws")' in script
