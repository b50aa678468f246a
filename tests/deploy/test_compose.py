"""deploy/compose.yaml without a Docker daemon: the Compose specification's schema, and the wiring that
`docker compose up` depends on (health checks, start order, the sandbox's names and its token issuer).

compose-spec.json is the specification's own schema, vendored (tests/deploy/README.md names its source).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import yaml
from jsonschema import Draft7Validator

from gateway.settings import load_settings
from sandbox.oidc import AUDIENCE, SandboxIssuer
from sandbox.server import Sandbox

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCHEMA = json.loads(Path(__file__).with_name("compose-spec.json").read_text())
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: Any) -> Any:
    """What compose makes of `${NAME:-default}` in an environment that sets none of them."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: m.group("default") or "", value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


def load_compose() -> dict[str, Any]:
    document: dict[str, Any] = interpolate(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))
    return document


COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
GATEWAYS = sorted(name for name, service in SERVICES.items() if service.get("command") == ["serve"])


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def sandbox_address() -> str:
    command = SERVICES["sandbox"]["command"]
    return f"http://{option(command, '--host')}:{option(command, '--sandbox-port')}"


def healthcheck_url(service: dict[str, Any]) -> str:
    found = re.search(r"https?://[^'\"\s]+", " ".join(service["healthcheck"]["test"]))
    assert found, service["healthcheck"]
    return found.group(0)


def test_the_compose_file_follows_the_compose_specification() -> None:
    Draft7Validator.check_schema(SCHEMA)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Draft7Validator(SCHEMA).iter_errors(COMPOSE)
    ]
    assert errors == []


def test_the_schema_would_catch_a_mistake() -> None:
    broken = load_compose()
    broken["services"]["gateway-1"]["depend_on"] = broken["services"]["gateway-1"].pop("depends_on")
    assert not Draft7Validator(SCHEMA).is_valid(broken)


def test_redis_postgres_two_gateway_replicas_a_proxy_and_the_sandbox() -> None:
    assert len(GATEWAYS) == 2
    assert set(SERVICES) == {"redis", "postgres", "sandbox", "proxy", *GATEWAYS}
    assert SERVICES["proxy"]["image"].startswith("nginx:")
    assert SERVICES["redis"]["image"].startswith("redis:")
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    # One port for all of it: the proxy's.
    assert [name for name, service in SERVICES.items() if service.get("ports")] == ["proxy"]


def test_every_service_restarts_and_reports_its_health() -> None:
    for name, service in SERVICES.items():
        assert service.get("restart") in {"always", "unless-stopped", "on-failure"}, name
        assert service.get("healthcheck", {}).get("test"), name


def test_each_service_waits_for_what_it_needs_to_be_healthy() -> None:
    for name in GATEWAYS:
        assert SERVICES[name]["depends_on"] == {
            "sandbox": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
        }
    assert SERVICES["proxy"]["depends_on"] == {name: {"condition": "service_healthy"} for name in GATEWAYS}


def test_the_gateways_are_ready_when_their_readiness_probe_says_so() -> None:
    for name in GATEWAYS:
        url = urlsplit(healthcheck_url(SERVICES[name]))
        # LEARNGRAPH_PORT is 8000 in the image (deploy/Dockerfile); the check runs inside the container.
        assert (url.hostname, url.port, url.path) == ("127.0.0.1", 8000, "/readyz")


async def test_the_sandbox_health_check_asks_the_sandbox_on_its_own_port() -> None:
    url = healthcheck_url(SERVICES["sandbox"])
    assert url.startswith(sandbox_address() + "/")
    sandbox = Sandbox.build(people=5)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.asgi_app())) as client:
        assert (await client.get(url)).status_code == 200


def test_the_sandbox_writes_the_identity_file_where_the_gateways_read_it() -> None:
    written = Path(option(SERVICES["sandbox"]["command"], "--identity-file"))
    volume, directory = SERVICES["sandbox"]["volumes"][0].split(":")
    assert written.parent == Path(directory)
    for name in GATEWAYS:
        assert SERVICES[name]["environment"]["LEARNGRAPH_IDENTITY_FILE"] == str(written)
        assert SERVICES[name]["volumes"] == [f"{volume}:{directory}:ro"]


def test_the_gateways_configuration_loads_and_points_at_the_sandbox() -> None:
    address = sandbox_address()
    sandbox = Sandbox.build(people=5)
    expected = {**sandbox.gateway_env(address), **sandbox.issuer.gateway_env(address)}
    for name in GATEWAYS:
        env = SERVICES[name]["environment"]
        assert {key: env.get(key) for key in expected} == expected
        settings = load_settings(env)
        assert settings.graphiql and settings.introspection
        assert not settings.allow_anonymous  # callers bring the sandbox issuer's tokens
        assert env["LEARNGRAPH_REDIS_URL"] == "redis://redis:6379/0"
        # The replicas share one index, in the compose file's PostgreSQL, with the password it was made with.
        index = urlsplit(env["LEARNGRAPH_INDEX_URL"])
        postgres = SERVICES["postgres"]["environment"]
        assert settings.index_enabled and (index.hostname, index.port) == ("postgres", 5432)
        assert (index.username, index.password, index.path) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            "/" + postgres["POSTGRES_DB"],
        )
        assert (
            env["LEARNGRAPH_WEBHOOK_SECRET"]
            == SERVICES["sandbox"]["environment"]["LEARNGRAPH_WEBHOOK_SECRET"]
        )


async def test_tokens_printed_or_minted_through_the_proxy_are_the_ones_the_gateways_accept() -> None:
    settings = load_settings(SERVICES[GATEWAYS[0]]["environment"])
    sandbox = Sandbox.build(people=5)
    printed = [token for _, token in sandbox.issuer.demo_tokens(sandbox_address(), sandbox.world)]
    # nginx forwards /oidc/ with the Host the gateways know the sandbox by (deploy/nginx.conf).
    host = re.search(
        r"location /oidc/ \{[^}]*proxy_set_header Host (\S+);", (DEPLOY / "nginx.conf").read_text()
    )
    assert host is not None
    transport = httpx.ASGITransport(app=sandbox.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host.group(1)}") as client:
        answer = await client.post("/oidc/token", json={"email": "someone@example.com", "roles": ["ADMIN"]})
    minted = answer.json()["access_token"]
    key = sandbox.issuer.key.public_key()
    for token in [*printed, minted]:
        claims = jwt.decode(
            token, key, algorithms=["ES256"], audience=settings.jwt_audience, issuer=settings.jwt_issuer
        )
        assert claims["aud"] == AUDIENCE
    assert settings.jwt_issuer == SandboxIssuer.url(sandbox_address())


def test_nginx_sends_to_each_replica_and_the_sandbox_posts_webhooks_through_it() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream learngraph \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert re.findall(r"^\s*server (\S+) ", upstream.group(1), re.M) == [f"{name}:8000" for name in GATEWAYS]
    listen = re.search(r"listen (\d+);", conf)
    assert listen is not None
    assert SERVICES["proxy"]["ports"] == [f"8000:{listen.group(1)}"]
    assert SERVICES["proxy"]["volumes"] == ["./nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    webhook = urlsplit(option(SERVICES["sandbox"]["command"], "--webhook-url"))
    assert (webhook.hostname, str(webhook.port), webhook.path) == (
        "proxy",
        listen.group(1),
        "/webhooks/damstra",
    )
