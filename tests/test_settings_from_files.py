"""Credentials from files (`LEARNGRAPH_<NAME>_FILE`), as Kubernetes and Docker mount secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.settings import ConfigError, credential_variables, load_settings
from gateway.sources import Source

URLS = {
    "LEARNGRAPH_DAMSTRA_URL": "https://app.velpic.com/api/v2",
    "LEARNGRAPH_LEARNINGLOGIN_URL": "https://learninglogin.com/api",
    "LEARNGRAPH_TRAINING_RECORDS_URL": "https://hr.example.com/api",
    "LEARNGRAPH_ISCOUT_URL": "https://api.iscout.com/v1",
}
SOURCE_CREDENTIALS = {
    Source.DAMSTRA: "LEARNGRAPH_DAMSTRA_ACCESS_KEY",
    Source.LEARNINGLOGIN: "LEARNGRAPH_LEARNINGLOGIN_TOKEN",
    Source.TRAINING_RECORDS: "LEARNGRAPH_TRAINING_RECORDS_TOKEN",
    Source.ISCOUT: "LEARNGRAPH_ISCOUT_TOKEN",
}


def secret_file(tmp_path: Path, name: str, contents: str) -> str:
    path = tmp_path / name
    path.write_text(contents)
    return str(path)


def test_every_credential_variable_can_come_from_a_file() -> None:
    # A vendor added later (ARCHITECTURE.md) gets `_TOKEN_FILE` too: credential_variables() asks
    # secret_variable() for every registered source (tests/vendors/test_adding_a_vendor.py uses it).
    assert credential_variables() == [
        *SOURCE_CREDENTIALS.values(),
        "LEARNGRAPH_WEBHOOK_SECRET",
        "LEARNGRAPH_REDIS_URL",
        "LEARNGRAPH_INDEX_URL",
    ]


@pytest.mark.parametrize("source", list(SOURCE_CREDENTIALS))
def test_a_source_credential_is_read_from_its_file_less_the_trailing_newline(
    tmp_path: Path, source: Source
) -> None:
    name = SOURCE_CREDENTIALS[source]
    path = secret_file(tmp_path, "credential", "s3cret-from-a-mount\n")
    settings = load_settings(
        {**URLS, **{n: "x" for n in SOURCE_CREDENTIALS.values() if n != name}, f"{name}_FILE": path}
    )
    enabled = settings.source(source)
    assert enabled is not None
    assert enabled.secret.get_secret_value() == "s3cret-from-a-mount"
    assert "s3cret-from-a-mount" in settings.secrets()  # so logs redact it like any other


def test_the_webhook_secret_is_read_from_its_file(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "webhook-secret", "hook-secret\r\n")
    settings = load_settings({"LEARNGRAPH_WEBHOOK_SECRET_FILE": path})
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "hook-secret"


def test_only_line_breaks_at_the_end_are_stripped(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "webhook-secret", " inner\nlines and spaces \n\n")
    settings = load_settings({"LEARNGRAPH_WEBHOOK_SECRET_FILE": path})
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == " inner\nlines and spaces "


def test_both_the_variable_and_its_file_is_a_clear_error(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "access-key", "from-file")
    env = {
        "LEARNGRAPH_DAMSTRA_URL": URLS["LEARNGRAPH_DAMSTRA_URL"],
        "LEARNGRAPH_DAMSTRA_ACCESS_KEY": "from-env",
        "LEARNGRAPH_DAMSTRA_ACCESS_KEY_FILE": path,
    }
    with pytest.raises(
        ConfigError, match="both LEARNGRAPH_DAMSTRA_ACCESS_KEY and LEARNGRAPH_DAMSTRA_ACCESS_KEY_FILE are set"
    ) as raised:
        load_settings(env)
    assert "from-env" not in str(raised.value) and "from-file" not in str(raised.value)


def test_an_empty_variable_beside_its_file_is_as_if_unset(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "webhook-secret", "from-file\n")
    settings = load_settings({"LEARNGRAPH_WEBHOOK_SECRET": "", "LEARNGRAPH_WEBHOOK_SECRET_FILE": path})
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "from-file"


@pytest.mark.parametrize(
    ("contents", "expected"),
    [
        (None, r"LEARNGRAPH_WEBHOOK_SECRET_FILE names .*missing, which cannot be read \(No such file"),
        ("\n", r"LEARNGRAPH_WEBHOOK_SECRET_FILE names .*, which is empty"),
        (b"\xff\xfe", r"LEARNGRAPH_WEBHOOK_SECRET_FILE names .*, which is not UTF-8 text"),
    ],
)
def test_a_file_that_gives_no_credential_is_explained(
    tmp_path: Path, contents: str | bytes | None, expected: str
) -> None:
    path = tmp_path / "missing"
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    elif contents is not None:
        path.write_text(contents)
    with pytest.raises(ConfigError, match=expected):
        load_settings({"LEARNGRAPH_WEBHOOK_SECRET_FILE": str(path)})


def test_file_variables_are_known_and_other_file_variables_keep_their_meaning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    identity = secret_file(tmp_path, "identity.yaml", "people: []\n")
    secret = secret_file(tmp_path, "webhook-secret", "hook-secret\n")
    with caplog.at_level(logging.WARNING):
        settings = load_settings(
            {"LEARNGRAPH_IDENTITY_FILE": identity, "LEARNGRAPH_WEBHOOK_SECRET_FILE": secret}
        )
    assert settings.identity_file == Path(identity)  # a path, not a credential read from a file
    assert "unknown" not in caplog.text
    with caplog.at_level(logging.WARNING):
        load_settings({"LEARNGRAPH_PORT_FILE": secret})
    assert "LEARNGRAPH_PORT_FILE" in caplog.text  # only credentials come from files
