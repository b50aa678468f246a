"""The gateway's door over HTTP: 401 before anything runs, what is open without a credential, and the
caller each path (the lean POST path, Strawberry's view, GET) puts on the Context."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from gateway.data.callers import Caller, PersonRef, Role
from gateway.data.context import Context, Services
from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.server import Sandbox, free_port
from tests.conftest import IN_PROCESS
from tests.server.auth.conftest import ADMIN_KEY, KEYS_YAML, KID, KIOSK_KEY, Issuer, hs256, unsigned

TYPENAME = {"query": "{ __typename }"}
# Runs every time, building a context for its caller: `{ __typename }` alone is answered from the
# bytes its first run gave (graphql_http), with no context after that.
RUNS = {"query": "{ __typename @include(if: true) }"}


@dataclass
class Door:
    http: httpx.AsyncClient
    app: Starlette
    services: Services

    async def post(self, body: Any = RUNS, **headers: str) -> httpx.Response:
        return await self.http.post("/graphql", json=body, headers=headers)


@contextlib.asynccontextmanager
async def gateway_with(
    sandbox: Sandbox, transport: httpx.AsyncBaseTransport, tmp_path: Path, env: dict[str, str]
) -> AsyncIterator[Door]:
    from gateway.server.app import build_services, create_app

    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    # GraphiQL on: the page is one of the things that needs no credential.
    base = {**sandbox.gateway_env(IN_PROCESS, identity), "LEARNGRAPH_GRAPHIQL": "true"}
    settings = load_settings({**base, **env})
    services = build_services(settings, transports={source: transport for source in Source})
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
    ) as http:
        yield Door(http, app, services)
    await app.state.authenticator.aclose()
    await services.upstreams.aclose()


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS_YAML)
    return path


@pytest.fixture
async def door(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, issuer: Issuer, keys_file: Path
) -> AsyncIterator[Door]:
    env = {**issuer.env(), "LEARNGRAPH_API_KEYS_FILE": str(keys_file)}
    async with gateway_with(sandbox, sandbox_transport, tmp_path, env) as door:
        yield door


@pytest.fixture
def callers(monkeypatch: pytest.MonkeyPatch) -> list[Caller]:
    """Every caller a Context is built for, in order."""
    seen: list[Caller] = []
    build = Context.build.__func__  # type: ignore[attr-defined]

    def recording(
        cls: type[Context], services: Services, /, *args: Any, caller: Caller, **kwargs: Any
    ) -> Context:
        seen.append(caller)
        context: Context = build(cls, services, *args, caller=caller, **kwargs)
        return context

    monkeypatch.setattr(Context, "build", classmethod(recording))
    return seen


def assert_unauthenticated(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["errors"]  # never data, not even null
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    for word in words:
        assert word in error["message"], error["message"]


async def test_without_a_credential_post_and_get_are_401(door: Door, callers: list[Caller]) -> None:
    assert_unauthenticated(await door.post(), "credential is required")
    assert_unauthenticated(await door.http.get("/graphql", params=TYPENAME), "credential is required")
    assert_unauthenticated(
        await door.http.get("/graphql", params=TYPENAME, headers={"accept": "text/html"}), "credential"
    )
    assert_unauthenticated(await door.http.get("/graphql", headers={"accept": "application/json"}))
    assert_unauthenticated(await door.http.get("/certificates/1"))
    assert_unauthenticated(await door.http.get("/no-such-route"))
    assert callers == []  # nothing ran


async def test_the_credential_is_checked_before_the_body_is_read(door: Door) -> None:
    for body in (b"{not json", b'{"query": "{ nope }"}', b'{"query": "{"}'):
        response = await door.http.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert_unauthenticated(response)
    response = await door.http.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json", "x-api-key": ADMIN_KEY}
    )
    assert response.status_code == 400


async def test_every_bad_credential_is_401(door: Door, issuer: Issuer) -> None:
    claims = issuer.claims()
    bad = {
        "expired": issuer.mint(exp=int(claims["iat"]) - 120),
        "not valid yet": issuer.mint(nbf=int(claims["iat"]) + 600),
        "audience": issuer.mint(aud="someone-else"),
        "issuer": issuer.mint(iss="https://evil.example.test"),
        "kid": issuer.mint(kid="key-that-never-was"),
        "algorithm": unsigned({"alg": "none", "kid": "key-1"}, claims),
        "not a JWT": "not-a-jwt",
    }
    for words, token in bad.items():
        assert_unauthenticated(await door.post(authorization=f"Bearer {token}"), words)
    assert_unauthenticated(await door.post(authorization=f"Bearer {hs256(claims, b'secret')}"), "algorithm")
    assert_unauthenticated(await door.post(authorization="Basic YWRtaW46YWRtaW4="), "Bearer")
    assert_unauthenticated(await door.post(authorization="Bearer"), "Bearer")
    assert_unauthenticated(await door.post(**{"x-api-key": "guessed"}), "API key")
    assert_unauthenticated(await door.post(**{"x-api-key": ""}), "API key")
    both = {"authorization": f"Bearer {issuer.mint()}", "x-api-key": ADMIN_KEY}
    assert_unauthenticated(await door.post(**both), "not both")


async def test_a_wrong_signature_under_a_known_kid_is_401(
    door: Door, issuer: Issuer, other_rsa_key: Any
) -> None:
    assert_unauthenticated(
        await door.post(authorization=f"Bearer {issuer.mint(key=other_rsa_key)}"), "signature"
    )


async def test_good_credentials_reach_the_context_on_every_path(
    door: Door, issuer: Issuer, callers: list[Caller]
) -> None:
    claims = issuer.claims(roles=["supervisor"], email="damstra:10001")
    token = {"authorization": "Bearer " + jwt.encode(claims, issuer.key, "RS256", headers={"kid": KID})}
    supervisor = Caller(
        "f3a1-trainee", Role.SUPERVISOR, PersonRef.parse("damstra:10001"), float(claims["exp"])
    )
    # The lean path (a plain POST), Strawberry's view (a document that does not validate; a GET).
    lean = await door.post(**token)
    view = await door.post({"query": "{ nope }"}, **token)
    get = await door.http.get("/graphql", params=TYPENAME, headers=token)
    assert lean.json() == get.json() == {"data": {"__typename": "Query"}}
    assert view.json()["errors"]
    assert callers == [supervisor] * 3

    callers.clear()
    assert (await door.post(**{"x-api-key": KIOSK_KEY})).json() == {"data": {"__typename": "Query"}}
    assert (await door.post(**{"X-API-KEY": ADMIN_KEY})).status_code == 200
    assert callers == [
        Caller("site-kiosk", Role.TRAINEE, PersonRef.parse("ava.smith0@example.com")),
        Caller("compliance-dashboard", Role.ADMIN),
    ]


async def test_a_query_answers_for_a_caller(door: Door) -> None:
    response = await door.post(
        {"query": '{ user(id: "VXNlcjpkYW1zdHJhOjEwMDAw") { fullName } }'}, **{"x-api-key": ADMIN_KEY}
    )
    assert response.status_code == 200 and response.json()["data"]["user"]["fullName"]


async def test_what_needs_no_credential(door: Door) -> None:
    assert (await door.http.get("/healthz")).status_code == 200
    assert (await door.http.get("/readyz")).status_code == 200
    page = await door.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "LearnGraph" in page.text
    # No receiver secret is configured: the receiver itself refuses, not the door.
    assert (await door.http.post("/webhooks/damstra", json={})).status_code == 403
    for response in (await door.http.options("/graphql"), await door.http.get("/metrics")):
        assert response.status_code != 401


async def test_anonymous_callers_are_admins_only_where_allowed_and_bad_credentials_still_fail(
    sandbox: Sandbox,
    sandbox_transport: httpx.ASGITransport,
    tmp_path: Path,
    issuer: Issuer,
    callers: list[Caller],
) -> None:
    env = {**issuer.env(), "LEARNGRAPH_ALLOW_ANONYMOUS": "true"}
    async with gateway_with(sandbox, sandbox_transport, tmp_path, env) as door:
        assert (await door.post()).json() == {"data": {"__typename": "Query"}}
        assert callers == [Caller.anonymous_admin()]
        assert_unauthenticated(await door.post(authorization=f"Bearer {issuer.mint(aud='x')}"), "audience")
        assert_unauthenticated(await door.post(**{"x-api-key": ADMIN_KEY}), "API key")
        assert (await door.post(authorization=f"Bearer {issuer.mint()}")).status_code == 200
        assert callers[-1].role is Role.TRAINEE


async def test_an_unreachable_issuer_is_503_not_401(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, issuer: Issuer
) -> None:
    env = {**issuer.env(), "LEARNGRAPH_JWT_JWKS_URL": f"http://127.0.0.1:{free_port()}/jwks.json"}
    async with gateway_with(sandbox, sandbox_transport, tmp_path, env) as door:
        response = await door.post(authorization=f"Bearer {issuer.mint()}")
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"] == {"code": "AUTHENTICATION_UNAVAILABLE"}
