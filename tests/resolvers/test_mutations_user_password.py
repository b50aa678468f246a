"""`createUser(input: {password})`: DAMSTRA's optional first password reaches `POST /user` as given, and
nowhere else: not the answer, not a log line, not an error."""

from __future__ import annotations

import json
import logging

import orjson
import pytest

from gateway.sources import Source
from tests.conftest import Gateway

CREATE = """mutation($password: String) { createUser(input: {firstName: "Pia", lastName: "Secret",
  email: "pia.secret@example.com", password: $password}) { user { id firstName } userErrors { field code message } } }"""
PASSWORD = "  xsr113 sdgas53 "  # spaces kept: a password is sent exactly as given


async def test_the_password_goes_to_damstra_and_nowhere_else(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.clear_logs()
    response = await gateway.http.post(
        "/graphql", json={"query": CREATE, "variables": {"password": PASSWORD}}
    )
    body = response.json()
    assert body["data"]["createUser"]["userErrors"] == [], body
    (create,) = [e for e in gateway.log(Source.DAMSTRA).entries if e.method == "POST"]
    assert create.path == "/user"
    assert orjson.loads(create.body)["password"] == PASSWORD
    assert "sdgas53" not in response.text
    assert not [r for r in caplog.records if "sdgas53" in r.getMessage()]


async def test_no_password_sends_none(gateway: Gateway) -> None:
    gateway.clear_logs()
    data = await gateway.data(CREATE, {"password": None})
    assert data["createUser"]["userErrors"] == []
    (create,) = [e for e in gateway.log(Source.DAMSTRA).entries if e.method == "POST"]
    assert "password" not in orjson.loads(create.body)


async def test_a_blank_password_is_refused_before_any_write(gateway: Gateway) -> None:
    gateway.clear_logs()
    data = await gateway.data(CREATE, {"password": "   "})
    (error,) = data["createUser"]["userErrors"]
    assert error["field"] == ["password"] and error["code"] == "INVALID_INPUT"
    assert not gateway.writes(Source.DAMSTRA)
    assert "   " not in json.dumps(error["message"])
