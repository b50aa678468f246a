"""`learngraph demo` stays zero-configuration: the gateway trusts the sandbox's issuer, the printed tokens
verify against it, and GraphiQL carries the admin's token."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import pytest

from gateway.data.callers import PersonRef, Role
from gateway.server import app as app_module
from gateway.server import cli
from gateway.server.auth import Authenticator, Unauthenticated
from gateway.settings import Settings, load_settings
from sandbox.oidc import SandboxIssuer, demo_callers
from sandbox.server import Sandbox, serve_on_loopback


def test_the_key_comes_from_the_seed() -> None:
    assert SandboxIssuer.from_seed(7).jwks() == SandboxIssuer.from_seed(7).jwks()
    assert SandboxIssuer.from_seed(7).jwks() != SandboxIssuer.from_seed(8).jwks()


def test_the_demo_people_are_an_admin_a_group_supervisor_and_a_trainee(sandbox: Sandbox) -> None:
    admin, supervisor, trainee = demo_callers(sandbox.world)
    assert [admin.role, supervisor.role, trainee.role] == ["ADMIN", "SUPERVISOR", "TRAINEE"]
    damstra = sandbox.world.damstra
    by_email = {p.email: p for p in sandbox.world.people}
    supervisors = {uid for group in damstra.groups.values() for uid in group.supervisor_ids}
    supervisor_id = by_email[supervisor.email].damstra_user_id
    trainee_id = by_email[trainee.email].damstra_user_id
    assert supervisor_id in supervisors and supervisor_id != by_email[admin.email].damstra_user_id
    assert trainee_id not in supervisors
    assert any(trainee_id in group.member_ids for group in damstra.groups.values())


async def test_the_demo_tokens_verify_against_the_sandbox_issuer(
    sandbox: Sandbox, sandbox_address: str
) -> None:
    authenticator = Authenticator.from_settings(load_settings(sandbox.issuer.gateway_env(sandbox_address)))
    tokens = sandbox.issuer.demo_tokens(sandbox_address, sandbox.world)
    assert len(tokens) == 3
    for demo, token in tokens:
        caller = await authenticator.authenticate({"authorization": f"Bearer {token}"})
        assert caller.role is Role[demo.role]
        assert caller.person == PersonRef.parse(demo.email)
    # Another run with the same seed accepts them too; another seed does not.
    again = Sandbox.build(people=5, seed=7)
    async with serve_on_loopback(again.asgi_app()) as address:
        same_seed = Authenticator.from_settings(load_settings(again.issuer.gateway_env(address)))
        token = again.issuer.mint(again.issuer.url(address), "a@example.com", ["TRAINEE"])
        assert (await same_seed.authenticate({"authorization": f"Bearer {token}"})).role is Role.TRAINEE
        other_seed = SandboxIssuer(SandboxIssuer.from_seed(8).key, kid=again.issuer.kid)
        other = other_seed.mint(again.issuer.url(address), "a@example.com", ["ADMIN"])
        with pytest.raises(Unauthenticated, match="signature"):
            await same_seed.authenticate({"authorization": f"Bearer {other}"})
        await same_seed.aclose()
    await authenticator.aclose()


async def test_the_sandbox_issuer_serves_discovery_and_mints_tokens(
    sandbox: Sandbox, sandbox_address: str
) -> None:
    async with httpx.AsyncClient(base_url=sandbox_address) as http:
        discovery = (await http.get("/oidc/.well-known/openid-configuration")).json()
        assert discovery["issuer"] == f"{sandbox_address}/oidc"
        assert (await http.get(discovery["jwks_uri"])).json() == sandbox.issuer.jwks()
        minted = await http.post("/oidc/token", json={"email": "damstra:10001", "roles": ["supervisor"]})
    authenticator = Authenticator.from_settings(load_settings(sandbox.issuer.gateway_env(sandbox_address)))
    caller = await authenticator.authenticate({"authorization": f"Bearer {minted.json()['access_token']}"})
    assert (caller.role, str(caller.person)) == (Role.SUPERVISOR, "damstra:10001")
    await authenticator.aclose()


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What `learngraph demo` builds, without serving it."""
    parts: dict[str, Any] = {}
    build_sandbox, create_app = cli._build_sandbox, app_module.create_app

    def keep_sandbox(args: argparse.Namespace) -> Sandbox:
        parts["sandbox"] = build_sandbox(argparse.Namespace(**{**vars(args), "people": 12}))
        return cast(Sandbox, parts["sandbox"])

    def keep_settings(env: dict[str, str]) -> Settings:
        parts["settings"] = load_settings(env)
        return cast(Settings, parts["settings"])

    def keep_app(settings: Settings, **options: Any) -> Any:
        parts["app"] = create_app(settings, **options)
        return parts["app"]

    async def serve_nothing(*servers: object, ready: Callable[[], None] | None = None) -> None:
        if ready is not None:
            ready()  # the banner, as when both servers listen

    monkeypatch.setattr(cli, "_build_sandbox", keep_sandbox)
    monkeypatch.setattr(cli, "load_settings", keep_settings)
    monkeypatch.setattr(cli, "create_app", keep_app)
    monkeypatch.setattr(cli, "_serve", serve_nothing)
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    yield parts


def test_the_demo_trusts_its_sandbox_prints_tokens_and_hands_graphiql_the_admins(
    demo: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--port", "8123", "--sandbox-port", "8124"]) == 0
    settings: Settings = demo["settings"]
    assert str(settings.jwt_jwks_url) == "http://127.0.0.1:8124/oidc/.well-known/jwks.json"
    assert (settings.jwt_issuer, settings.jwt_audiences) == ("http://127.0.0.1:8124/oidc", ["learngraph"])
    assert not settings.allow_anonymous
    printed = capsys.readouterr().out
    tokens = re.findall(r"^\s+(ey[\w-]+\.[\w-]+\.[\w-]+)$", printed, re.MULTILINE)
    assert len(tokens) == 3
    for role in ("ADMIN", "SUPERVISOR", "TRAINEE"):
        assert re.search(rf"^\s+{role}\s+\S+@example\.com", printed, re.MULTILINE), printed

    async def graphiql() -> str:
        app = demo["app"]
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http,
        ):
            return (await http.get("/graphql", headers={"accept": "text/html"})).text

    page = asyncio.run(graphiql())
    # Its training index: a SQLite file of its own, made (and migrated) when the gateway started.
    assert settings.index_path is not None and settings.index_path.name == "index.db"
    assert settings.index_path.exists()
    # The page's config: the headers every request carries (subscriptions' connection_init too).
    config = json.loads(re.findall(r'<script id="learngraph-graphiql-config" [^>]*>(.*?)</script>', page)[0])
    assert config["headers"] == {"Authorization": f"Bearer {tokens[0]}"}
    assert config["starterQuery"].startswith("# LearnGraph")
