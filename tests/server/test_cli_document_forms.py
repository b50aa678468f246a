"""`learngraph demo|sandbox` build a sandbox that takes the forms the environment tells the gateway to
send where a vendor document is silent, and hand the gateway the same settings."""

from __future__ import annotations

import argparse

import pytest

from gateway.server import cli
from gateway.settings import load_settings
from gateway.sources import Source

ARGS = argparse.Namespace(
    people=5, seed=7, latency_ms=0.0, error_rate=0.0, timeout_rate=0.0, iscout_request_limit=0.0
)


def test_the_sandbox_follows_the_environment_and_tells_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD", "put")
    monkeypatch.setenv("LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM", "brackets")
    sandbox = cli._build_sandbox(ARGS)
    assert sandbox.controls[Source.DAMSTRA].update_user_method == "PUT"
    assert sandbox.controls[Source.LEARNINGLOGIN].unassign_ids_form == "brackets"
    settings = load_settings(sandbox.gateway_env("http://127.0.0.1:1"))
    assert settings.damstra_update_user_method == "PUT"
    assert settings.learninglogin_unassign_ids_form == "brackets"


def test_the_sandbox_defaults_to_the_gateways_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD", raising=False)
    monkeypatch.delenv("LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM", raising=False)
    sandbox = cli._build_sandbox(ARGS)
    defaults = load_settings({})
    assert sandbox.controls[Source.DAMSTRA].update_user_method == defaults.damstra_update_user_method
    assert (
        sandbox.controls[Source.LEARNINGLOGIN].unassign_ids_form == defaults.learninglogin_unassign_ids_form
    )


def test_a_form_no_document_allows_stops_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD", "PATCH")
    with pytest.raises(SystemExit):
        cli._build_sandbox(ARGS)
