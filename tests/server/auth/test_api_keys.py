"""API keys: the file's shape (each mistake named by its line), and a presented key to its caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.data.callers import Caller, PersonRef, Role
from gateway.server.auth.api_keys import ApiKeys
from gateway.settings import ConfigError
from tests.server.auth.conftest import ADMIN_KEY, KEYS_YAML, KIOSK_KEY, sha256


def test_listed_keys_make_their_callers() -> None:
    keys = ApiKeys.parse(KEYS_YAML)
    assert keys.caller(ADMIN_KEY) == Caller("compliance-dashboard", Role.ADMIN)
    assert keys.caller(KIOSK_KEY) == Caller(
        "site-kiosk", Role.TRAINEE, PersonRef.parse("ava.smith0@example.com")
    )


def test_other_keys_make_none() -> None:
    keys = ApiKeys.parse(KEYS_YAML)
    for presented in ("", ADMIN_KEY + " ", ADMIN_KEY.upper(), sha256(ADMIN_KEY), "compliance-dashboard"):
        assert keys.caller(presented) is None


def test_an_empty_list_is_no_keys() -> None:
    assert len(ApiKeys.parse("keys: []\n")) == 0
    assert len(ApiKeys.parse("keys:\n")) == 0


def test_the_digest_may_be_upper_case_and_persons_take_every_form() -> None:
    text = f"""keys:
  - {{name: a, sha256: "{sha256("a").upper()}", role: Supervisor, person: damstra:10001}}
  - {{name: b, sha256: "{sha256("b")}", role: TRAINEE, person: VXNlcjpkYW1zdHJhOjEyMzQ1}}
  - {{name: c, sha256: "{sha256("c")}", role: admin, person: Ava.Smith0@example.com}}
"""
    keys = ApiKeys.parse(text)
    assert [str(key.person) for key in keys.keys] == [
        "damstra:10001",
        "damstra:12345",
        "ava.smith0@example.com",
    ]
    assert [key.role for key in keys.keys] == [Role.SUPERVISOR, Role.TRAINEE, Role.ADMIN]
    assert keys.caller("a") == Caller("a", Role.SUPERVISOR, PersonRef.parse("damstra:10001"))


GOOD = f'sha256: "{sha256("x")}"'


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("keys: [\n  {name: a,\n", 3, "not valid YAML"),
        ("- name: a\n", 1, "expected `keys:`"),
        ("people: []\n", 1, "unknown field 'people'"),
        ("keys: {name: a}\n", 1, "must be a list"),
        ("keys:\n  - just-a-name\n", 2, "each key is a mapping"),
        (f"keys:\n  - name: a\n    {GOOD}\n", 2, "no 'role'"),
        ("keys:\n  - name: a\n    role: ADMIN\n", 2, "no 'sha256'"),
        (f"keys:\n  - name: a\n    {GOOD}\n    role: ADMIN\n    scope: all\n", 5, "unknown field 'scope'"),
        ("keys:\n  - name: a\n    sha256: my-secret-key\n    role: ADMIN\n", 3, "not 64 hex digits"),
        (f"keys:\n  - name: a\n    {GOOD}\n    role: OWNER\n", 4, "role 'OWNER' is not one of"),
        (f"keys:\n  - name: a\n    {GOOD}\n    role: TRAINEE\n", 2, "no 'person'"),
        (f"keys:\n  - name: a\n    {GOOD}\n    role: SUPERVISOR\n    person: somebody\n", 5, "'somebody'"),
        (f"keys:\n  - name: a\n    {GOOD}\n    role: TRAINEE\n    person: payroll:77\n", 5, "source"),
        (f"keys:\n  - name: ''\n    {GOOD}\n    role: ADMIN\n", 2, "non-empty"),
        (f"keys:\n  - name: [a]\n    {GOOD}\n    role: ADMIN\n", 2, "non-empty text"),
        (
            f"keys:\n  - {{name: a, {GOOD}, role: ADMIN}}\n  - {{name: a, sha256: {'0' * 64}, role: ADMIN}}\n",
            3,
            "second key named 'a'",
        ),
        (
            f"keys:\n  - {{name: a, {GOOD}, role: ADMIN}}\n  - {{name: b, {GOOD}, role: ADMIN}}\n",
            3,
            "same sha256",
        ),
        (f"keys:\n  - name: a\n    name: b\n    {GOOD}\n    role: ADMIN\n", 3, "given twice"),
    ],
)
def test_a_malformed_file_names_the_line_at_fault(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ApiKeys.parse(text, "keys.yaml")
    message = str(raised.value)
    assert message.startswith(f"keys.yaml:{line}: "), message
    assert words in message, message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="LEARNGRAPH_API_KEYS_FILE names .*missing.yaml, which does not exist"
    ):
        ApiKeys.load(tmp_path / "missing.yaml")


def test_the_file_holds_no_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS_YAML)
    assert ADMIN_KEY not in path.read_text() and KIOSK_KEY not in path.read_text()
    assert ApiKeys.load(path).caller(ADMIN_KEY) == Caller("compliance-dashboard", Role.ADMIN)
