"""`learngraph serve` and the ways in: it refuses to start with none, with a keys file it cannot read, or
with no upstream to serve, and says so in one line; the anonymous switch is announced as the warning it is."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from gateway.server import cli
from gateway.settings import load_settings
from tests.server.auth.conftest import KEYS_YAML

DAMSTRA = {"LEARNGRAPH_DAMSTRA_URL": "https://app.velpic.com/api/v2", "LEARNGRAPH_DAMSTRA_ACCESS_KEY": "k"}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A clean LEARNGRAPH_* environment, and uvicorn that records the app instead of serving it."""
    for name in list(os.environ):
        if name.startswith("LEARNGRAPH_"):
            monkeypatch.delenv(name)
    served: dict[str, Any] = {}

    def run(app: Starlette, **options: Any) -> None:
        served["app"] = app

    monkeypatch.setattr("gateway.server.cli.uvicorn.run", run)
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    return served


def test_serve_refuses_to_start_without_a_way_in(
    environment: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve"]) == 2
    assert "app" not in environment
    [line] = [line for line in capsys.readouterr().err.splitlines() if "authenticate" in line]
    for name in ("LEARNGRAPH_JWT_JWKS_URL", "LEARNGRAPH_JWT_ISSUER", "LEARNGRAPH_JWT_AUDIENCE"):
        assert name in line
    assert "LEARNGRAPH_API_KEYS_FILE" in line and "LEARNGRAPH_ALLOW_ANONYMOUS" in line


def test_serve_refuses_half_a_token_configuration(
    environment: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEARNGRAPH_JWT_JWKS_URL", "https://login.example.test/jwks.json")
    assert cli.main(["serve"]) == 2
    assert "LEARNGRAPH_JWT_ISSUER, LEARNGRAPH_JWT_AUDIENCE not set" in capsys.readouterr().err


def test_a_malformed_keys_file_exits_2_naming_the_line(
    environment: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS_YAML.replace("role: trainee", "role: superuser"))
    monkeypatch.setenv("LEARNGRAPH_API_KEYS_FILE", str(keys))
    assert cli.main(["serve"]) == 2
    assert "app" not in environment
    err = capsys.readouterr().err
    assert f"{keys}:7: role 'SUPERUSER' is not one of TRAINEE, SUPERVISOR, ADMIN" in err


def test_serve_starts_with_api_keys_alone(
    environment: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS_YAML)
    monkeypatch.setenv("LEARNGRAPH_API_KEYS_FILE", str(keys))
    for name, value in DAMSTRA.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["serve"]) == 0
    assert len(environment["app"].state.authenticator.api_keys) == 2


def test_serve_refuses_to_start_without_an_upstream(
    environment: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Started, it would say it is ready on /readyz and answer every list empty.
    monkeypatch.setenv("LEARNGRAPH_ALLOW_ANONYMOUS", "true")
    assert cli.main(["serve"]) == 2
    assert "app" not in environment
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("learngraph: no upstream is configured")
    assert "LEARNGRAPH_DAMSTRA_URL" in line and "LEARNGRAPH_ISCOUT_URL" in line


async def test_the_anonymous_switch_is_a_warning_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.server.app import create_app

    app = create_app(load_settings({"LEARNGRAPH_ALLOW_ANONYMOUS": "true"}))
    with caplog.at_level(logging.INFO):
        async with app.router.lifespan_context(app):
            pass
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING and "ANONYMOUS" in r.getMessage()]
    assert "ADMIN" in warning.getMessage() and "development only" in warning.getMessage().lower()
