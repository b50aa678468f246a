from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.index.store import database_url
from gateway.settings import ConfigError, load_settings
from gateway.sources import Source

DAMSTRA = {
    "LEARNGRAPH_DAMSTRA_URL": "https://app.velpic.com/api/v2",
    "LEARNGRAPH_DAMSTRA_ACCESS_KEY": "k-123-secret",
}


def test_a_source_is_enabled_exactly_when_its_url_is_set() -> None:
    settings = load_settings(DAMSTRA)
    damstra = settings.source(Source.DAMSTRA)
    assert damstra is not None and damstra.url == "https://app.velpic.com/api/v2"
    assert damstra.secret.get_secret_value() == "k-123-secret"
    assert settings.source(Source.ISCOUT) is None
    assert [s.source for s in settings.enabled_sources()] == [Source.DAMSTRA]
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_secrets_never_show_in_repr_or_str() -> None:
    settings = load_settings(DAMSTRA)
    assert "k-123-secret" not in repr(settings)
    assert "k-123-secret" not in str(settings)
    assert "k-123-secret" not in repr(settings.source(Source.DAMSTRA))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"LEARNGRAPH_DAMSTRA_URL": "not a url", "LEARNGRAPH_DAMSTRA_ACCESS_KEY": "k"},
            "LEARNGRAPH_DAMSTRA_URL",
        ),
        ({"LEARNGRAPH_ISCOUT_URL": "https://api.iscout.com/v1"}, "LEARNGRAPH_ISCOUT_TOKEN is not"),
        ({"LEARNGRAPH_PORT": "eighty"}, "LEARNGRAPH_PORT"),
    ],
)
def test_bad_configuration_names_the_variable_to_fix(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(env)


def test_toml_file_holds_the_same_keys_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "learngraph.toml"
    config.write_text(
        'LEARNGRAPH_DAMSTRA_URL = "https://file.example/api/v2"\ndamstra_access_key = "from-file"\nport = 9000\n'
    )
    settings = load_settings({"LEARNGRAPH_CONFIG": str(config), "LEARNGRAPH_PORT": "9100"})
    damstra = settings.source(Source.DAMSTRA)
    assert damstra is not None and damstra.url == "https://file.example/api/v2"
    assert damstra.secret.get_secret_value() == "from-file"
    assert settings.port == 9100


def test_unknown_key_in_the_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "learngraph.toml"
    config.write_text('damstra_acess_key = "typo"\n')
    with pytest.raises(ConfigError, match="unknown key 'damstra_acess_key'"):
        load_settings({"LEARNGRAPH_CONFIG": str(config)})


def test_missing_or_broken_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"LEARNGRAPH_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"LEARNGRAPH_CONFIG": str(broken)})


def test_unknown_variables_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        load_settings({"LEARNGRAPH_DAMSTRA_ACCES_KEY": "typo"})
    assert "LEARNGRAPH_DAMSTRA_ACCES_KEY" in caplog.text
    assert "typo" not in caplog.text


def test_the_access_log_is_off_unless_asked_for() -> None:
    assert load_settings(DAMSTRA).access_log is False
    assert load_settings({**DAMSTRA, "LEARNGRAPH_ACCESS_LOG": "true"}).access_log is True
    with pytest.raises(ConfigError, match="LEARNGRAPH_ACCESS_LOG"):
        load_settings({**DAMSTRA, "LEARNGRAPH_ACCESS_LOG": "sometimes"})


def test_browser_facing_settings_are_off_and_the_fast_paths_on_by_default() -> None:
    settings = load_settings({})
    assert settings.cors_origins == ()
    assert (settings.graphiql, settings.introspection, settings.fast_paths) == (False, False, True)


def test_cors_origins_are_a_comma_separated_list_of_origins(tmp_path: Path) -> None:
    raw = " https://app.example.com, http://localhost:3000/ ,,"
    settings = load_settings({"LEARNGRAPH_CORS_ORIGINS": raw})
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:3000")
    config = tmp_path / "learngraph.toml"
    config.write_text('cors_origins = ["https://a.example", "https://b.example:8443"]\n')
    from_file = load_settings({"LEARNGRAPH_CONFIG": str(config)})
    assert from_file.cors_origins == ("https://a.example", "https://b.example:8443")


@pytest.mark.parametrize("origins", ["*", "app.example.com", "https://app.example.com/graphql"])
def test_anything_but_an_origin_is_refused(origins: str) -> None:
    with pytest.raises(ConfigError, match="LEARNGRAPH_CORS_ORIGINS: .* is not an origin"):
        load_settings({"LEARNGRAPH_CORS_ORIGINS": origins})


def test_the_forms_a_vendor_document_leaves_open_have_defaults_and_refuse_other_values() -> None:
    defaults = load_settings({})
    assert (defaults.damstra_update_user_method, defaults.learninglogin_unassign_ids_form) == (
        "POST",
        "json-list",
    )
    chosen = load_settings(
        {
            "LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD": "put",
            "LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM": "Brackets",
        }
    )
    assert (chosen.damstra_update_user_method, chosen.learninglogin_unassign_ids_form) == ("PUT", "brackets")
    with pytest.raises(ConfigError, match="LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD"):
        load_settings({"LEARNGRAPH_DAMSTRA_UPDATE_USER_METHOD": "PATCH"})
    with pytest.raises(ConfigError, match="LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM"):
        load_settings({"LEARNGRAPH_LEARNINGLOGIN_UNASSIGN_IDS_FORM": "commas"})


def test_the_index_is_on_when_a_path_or_a_url_is_set(tmp_path: Path) -> None:
    assert not load_settings({}).index_enabled
    by_path = load_settings({"LEARNGRAPH_INDEX_PATH": str(tmp_path / "index.db")})
    assert by_path.index_enabled and by_path.index_reconcile_hours == 24
    assert database_url(by_path) == f"sqlite+aiosqlite:///{tmp_path / 'index.db'}"
    shared = load_settings({"LEARNGRAPH_INDEX_URL": "postgresql://lg:pw-9f3@db:5432/learngraph"})
    assert database_url(shared) == "postgresql+asyncpg://lg:pw-9f3@db:5432/learngraph"
    assert "pw-9f3" in shared.secrets()  # redacted from logs like any credential
    with pytest.raises(ConfigError, match="postgresql://"):
        load_settings({"LEARNGRAPH_INDEX_URL": "mysql://db/x"})
