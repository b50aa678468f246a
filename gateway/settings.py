"""Configuration (docs/contract.md §2): environment variables, optionally a TOML file named by
LEARNGRAPH_CONFIG holding the same keys; the environment wins. Validated once at start-up.

    settings = load_settings()            # raises ConfigError with a message a person can act on
    settings.source(Source.DAMSTRA).url   # None when the source is disabled
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.sources import Source

ENV_PREFIX = "LEARNGRAPH_"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
INDEX_URL_SCHEMES = ("postgresql://", "postgresql+asyncpg://", "postgres://")
_ORIGIN = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#\s,]+")
log = logging.getLogger(__name__)

# The secret each source needs, by the name its variable carries (docs/contract.md §2). A vendor added
# later (see ARCHITECTURE.md) takes `LEARNGRAPH_<SLUG>_URL`, `_TOKEN`, `_TIMEOUT_SECONDS`, `_MAX_CONNECTIONS`
# and `_MAX_RPS`.
SECRET_FIELD = {
    Source.DAMSTRA: "damstra_access_key",
    Source.LEARNINGLOGIN: "learninglogin_token",
    Source.TRAINING_RECORDS: "training_records_token",
    Source.ISCOUT: "iscout_token",
}
ADDED_SOURCE_VARIABLES = ("url", "token", "timeout_seconds", "max_connections", "max_rps")
# What one process sends each upstream (gateway/upstreams/pacing.py, transport.py): connections open at
# once, and requests a second (0: no pace), for every source alike.
DEFAULT_MAX_CONNECTIONS = 100


def secret_variable(source: Source) -> str:
    """The name (without the prefix) of the variable holding `source`'s credential."""
    return SECRET_FIELD.get(source, f"{source.slug}_token")


# Kubernetes and Docker mount secrets as files: each credential variable may instead be given as
# `<NAME>_FILE`, naming a file that holds the value (its trailing line break is not part of it).
FILE_SUFFIX = "_FILE"


def credential_variables() -> list[str]:
    """The full names of the variables that hold a credential: each may also come as `<NAME>_FILE`."""
    names = [secret_variable(source) for source in Source]
    # redis_url: a Redis URL carries its password (redis://:password@host:6379/0).
    names += ["webhook_secret", "redis_url", "index_url"]
    return [f"{ENV_PREFIX}{name.upper()}" for name in names]


def added_sources() -> list[Source]:
    """Sources registered beyond the ones `Settings` names field by field."""
    return [source for source in Source if f"{source.slug}_url" not in Settings.model_fields]


class ConfigError(Exception):
    """Configuration that cannot start the gateway; the message names the variable to fix."""


class AddedSource(BaseModel):
    """The settings of a vendor registered beyond the built-in four."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: AnyHttpUrl
    token: SecretStr
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    max_rps: float = Field(default=0.0, ge=0, allow_inf_nan=False)


@dataclass(frozen=True)
class SourceSettings:
    source: Source
    url: str
    secret: SecretStr
    timeout_seconds: float
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_rps: float = 0.0  # 0: unlimited


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    damstra_url: AnyHttpUrl | None = None
    damstra_access_key: SecretStr | None = None
    learninglogin_url: AnyHttpUrl | None = None
    learninglogin_token: SecretStr | None = None
    training_records_url: AnyHttpUrl | None = None
    training_records_token: SecretStr | None = None
    iscout_url: AnyHttpUrl | None = None
    iscout_token: SecretStr | None = None

    identity_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # A line per request through `logging` costs ~40 us, a fifth of a small request; behind a proxy
    # that logs requests itself it says nothing new. `learngraph demo` turns it on.
    access_log: bool = False
    # `json`: one JSON object a line (with the request id), for a log pipeline; `text` for a person.
    log_format: Literal["text", "json"] = "text"
    # /metrics on this port only (on every interface of `host`'s choosing), not on the main port.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # Per-source timeouts (seconds): one slow vendor must not hold the whole answer.
    damstra_timeout_seconds: float = Field(default=10.0, gt=0)
    learninglogin_timeout_seconds: float = Field(default=10.0, gt=0)
    training_records_timeout_seconds: float = Field(default=10.0, gt=0)
    iscout_timeout_seconds: float = Field(default=10.0, gt=0)
    read_retry_attempts: int = Field(default=3, ge=1, le=10)
    # Where a vendor's document is silent, the form the connector sends (docs/vendors.md says why each
    # default was chosen): DAMSTRA's Update User verb, and how LearningLogin's unassign takes its
    # `ids=[...]`: `json-list` (`ids=[1,2]`, as the document writes it) or `brackets` (`ids[]=1&ids[]=2`).
    damstra_update_user_method: Literal["POST", "PUT"] = "POST"
    learninglogin_unassign_ids_form: Literal["json-list", "brackets"] = "json-list"

    @field_validator("damstra_update_user_method", mode="before")
    @classmethod
    def _http_method(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("learninglogin_unassign_ids_form", mode="before")
    @classmethod
    def _ids_form(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    # Per-source connections open at once (a request past them waits for one, within the source's
    # timeout), and requests a second: a token bucket that queues, never refuses, and whose wait counts
    # against the request's deadline; 0 sends as fast as asked. A 429's Retry-After pauses the source.
    damstra_max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    learninglogin_max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    training_records_max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    iscout_max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    damstra_max_rps: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    learninglogin_max_rps: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    training_records_max_rps: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    iscout_max_rps: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    # What one GraphQL operation may spend upstream (gateway/upstreams/allowance.py): its HTTP requests,
    # retries included, and the time until whatever has not answered is UPSTREAM_TIMEOUT.
    max_upstream_requests: int = Field(default=1_000, ge=1)
    request_deadline_seconds: float = Field(default=15.0, gt=0)

    # Cross-request cache for slow-changing data.
    cache_max_entries: int = Field(default=10_000, ge=0)
    lesson_cache_ttl_seconds: float = Field(default=300.0, ge=0)
    group_cache_ttl_seconds: float = Field(default=60.0, ge=0)
    user_cache_ttl_seconds: float = Field(default=60.0, ge=0)
    # TRAINING_RECORDS filters by nothing but a name: a person's records come from the whole list.
    training_records_cache_ttl_seconds: float = Field(default=30.0, ge=0)
    # Each person's schedule lists (README, "How fresh is an answer"). DAMSTRA's are also dropped by its
    # schedule webhooks, so with a webhook secret the TTL is only a backstop: unset, 300 with the secret
    # and 30 without. TRAINING_RECORDS' is the whole list above; unset, that one's TTL holds.
    damstra_schedule_cache_ttl_seconds: float | None = Field(default=None, ge=0)
    learninglogin_schedule_cache_ttl_seconds: float = Field(default=30.0, ge=0)
    training_records_schedule_cache_ttl_seconds: float | None = Field(default=None, ge=0)
    # Off: every cross-request cache of upstream data (entities, visible sets, schedules, the TRAINING_RECORDS
    # list, catalogue pages) is off, for comparisons and debugging. Per-request loaders stay.
    cross_request_cache: bool = True

    # Vendors registered beyond the built-in four, by slug (from LEARNGRAPH_<SLUG>_URL, _TOKEN, ...).
    added_sources: dict[str, AddedSource] = Field(default_factory=dict)

    idempotency_window_seconds: float = Field(default=86_400.0, ge=0)
    webhook_secret: SecretStr | None = None
    # A webhook delivery is remembered this long (a repeat is not published again), and a body
    # stamped longer ago than this is stale: it only drops cached records.
    webhook_max_age_seconds: float = Field(default=600.0, gt=0)

    # Per-caller fairness: operations a caller may start a minute and have in flight at once over
    # HTTP (0: no limit), and operations one WebSocket connection may run at once.
    caller_rate_limit: int = Field(default=0, ge=0)
    caller_concurrency: int = Field(default=0, ge=0)
    max_subscriptions_per_connection: int = Field(default=20, ge=1)

    # State shared by replicas and workers (events, idempotency keys, cache invalidations); unset, each
    # process keeps its own, which is right for one process and wrong for more.
    redis_url: SecretStr | None = None
    # `learngraph serve` runs this many worker processes on one socket; more than one needs Redis.
    workers: int = Field(default=1, ge=1, le=64)

    # The training index (gateway/index): on when either is set. A SQLite file for one replica, or a
    # PostgreSQL URL that every replica shares (the URL wins when both are set).
    index_path: Path | None = None
    index_url: SecretStr | None = None
    # Every indexed row is confirmed upstream again within this many hours, or removed.
    index_reconcile_hours: float = Field(default=24.0, gt=0)

    @field_validator("index_url")
    @classmethod
    def _index_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(INDEX_URL_SCHEMES):
            # Not the value itself in the message: it carries a password.
            raise ValueError(
                "must start with postgresql:// (e.g. postgresql://learngraph:secret@db/learngraph)"
            )
        return value

    @property
    def index_enabled(self) -> bool:
        return self.index_url is not None or self.index_path is not None

    # false: this replica serves from the index but never syncs it, not even for its webhooks and writes
    # (another process keeps it fresh).
    index_sync: bool = True
    # The training index's sync (gateway/index/syncer.py); besides `index_reconcile_hours`, these
    # re-reads are full passes too, and reconcile their source.
    # LearningLogin: completions read by date (`completion_date_gteq`) this often, and every session
    # re-read whole (new assignments, progress, removals) this often.
    index_learninglogin_poll_seconds: float = Field(default=60.0, gt=0)
    index_learninglogin_reread_minutes: float = Field(default=360.0, gt=0)
    # Training Records and iScout filter by nothing a sync could use: re-read whole this often.
    index_training_records_reread_minutes: float = Field(default=15.0, gt=0)
    index_iscout_reread_minutes: float = Field(default=15.0, gt=0)
    # Requests the sync has in flight at once per source (besides the per-vendor pace of http.py).
    index_sync_concurrency: int = Field(default=4, ge=1, le=64)
    # The sync lock's lifetime: renewed every third of it; a dead holder's expires after it.
    index_lock_ttl_seconds: float = Field(default=30.0, ge=1)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(REDIS_SCHEMES):
            # Not the value itself in the message: it may carry a password.
            raise ValueError(f"must start with {', '.join(REDIS_SCHEMES)} (e.g. redis://redis:6379/0)")
        return value

    # Browser-facing (contract §8): pages on these origins may call the gateway (CORS, and
    # WebSockets opened from them); GraphiQL and introspection are for development, so `serve`
    # leaves them off and `learngraph demo` turns them on unless they are set.
    cors_origins: tuple[str, ...] = ()
    graphiql: bool = False
    introspection: bool = False
    # The lean POST path and the lean executor's shortcuts; off, every request takes Strawberry's
    # own view and execution (to rule them out when something answers oddly).
    fast_paths: bool = True

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple):
            return value
        origins = []
        for raw in value:
            if not isinstance(raw, str):
                raise ValueError(f"{raw!r} is not an origin")
            origin = raw.strip().rstrip("/")  # a browser's Origin never ends in a slash
            if not origin:
                continue
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{raw.strip()!r} is not an origin: scheme://host[:port], e.g. https://app.example.com"
                )
            origins.append(origin)
        return tuple(origins)

    # What one request may ask (contract §9), refused before anything runs: the body's size (413), then
    # the document's tokens, depth, aliases and root fields, and its static cost in expected upstream
    # requests (400). `cost_mode = "measure"` logs an operation over `max_cost` and lets it run.
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    max_tokens: int = Field(default=15_000, ge=1)
    max_depth: int = Field(default=15, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_root_fields: int = Field(default=10, ge=1)
    max_cost: int = Field(default=1_000, ge=0)
    cost_mode: Literal["enforce", "measure"] = "enforce"

    # Who may call (contract §8): OIDC bearer tokens, API keys, or (development only) anyone.
    jwt_jwks_url: AnyHttpUrl | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None  # one audience, or several separated by commas
    jwt_person_claim: str = Field(default="email", min_length=1)
    jwt_roles_claim: str = Field(default="roles", min_length=1)
    api_keys_file: Path | None = None
    allow_anonymous: bool = False

    @model_validator(mode="after")
    def _enabled_sources_have_secrets(self) -> Settings:
        for source, secret_field in SECRET_FIELD.items():
            if getattr(self, f"{source.slug}_url") is not None and getattr(self, secret_field) is None:
                raise ValueError(
                    f"{ENV_PREFIX}{source.slug.upper()}_URL is set but {ENV_PREFIX}{secret_field.upper()} is not: "
                    f"set the credential, or unset the URL to disable {source.name}"
                )
        return self

    @model_validator(mode="after")
    def _jwt_settings_come_together(self) -> Settings:
        jwt = {
            "JWT_JWKS_URL": self.jwt_jwks_url,
            "JWT_ISSUER": self.jwt_issuer,
            "JWT_AUDIENCE": self.jwt_audience,
        }
        missing = [name for name, value in jwt.items() if not value]
        if missing and len(missing) < len(jwt):
            raise ValueError(
                f"bearer tokens need {', '.join(ENV_PREFIX + name for name in jwt)} together; "
                f"{', '.join(ENV_PREFIX + name for name in missing)} not set"
            )
        return self

    @property
    def damstra_schedule_ttl(self) -> float:
        if self.damstra_schedule_cache_ttl_seconds is not None:
            return self.damstra_schedule_cache_ttl_seconds
        return 300.0 if self.webhook_secret and self.webhook_secret.get_secret_value() else 30.0

    @property
    def training_records_ttl(self) -> float:
        """The whole TRAINING_RECORDS list's TTL: the schedule variable when set, else the older one."""
        if self.training_records_schedule_cache_ttl_seconds is not None:
            return self.training_records_schedule_cache_ttl_seconds
        return self.training_records_cache_ttl_seconds

    @property
    def jwt_audiences(self) -> list[str]:
        return [a.strip() for a in (self.jwt_audience or "").split(",") if a.strip()]

    def source(self, source: Source) -> SourceSettings | None:
        added = self.added_sources.get(source.slug)
        if added is not None:
            return SourceSettings(
                source,
                str(added.url).rstrip("/"),
                added.token,
                added.timeout_seconds,
                added.max_connections,
                added.max_rps,
            )
        url = getattr(self, f"{source.slug}_url", None)
        if url is None:
            return None
        secret: SecretStr = getattr(self, SECRET_FIELD[source])
        return SourceSettings(
            source=source,
            url=str(url).rstrip("/"),
            secret=secret,
            timeout_seconds=getattr(self, f"{source.slug}_timeout_seconds"),
            max_connections=getattr(self, f"{source.slug}_max_connections"),
            max_rps=getattr(self, f"{source.slug}_max_rps"),
        )

    def enabled_sources(self) -> list[SourceSettings]:
        return [s for s in (self.source(source) for source in Source) if s is not None]

    def secrets(self) -> list[str]:
        """Every credential value, for redaction."""
        values = [getattr(self, name) for name in (*SECRET_FIELD.values(), "webhook_secret")]
        values += [added.token for added in self.added_sources.values()]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        for secret_url in (self.redis_url, self.index_url):
            if secret_url is not None:
                url = secret_url.get_secret_value()
                password = urlsplit(url).password
                found += [url, *([password] if password else [])]
        return found


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{ENV_PREFIX}CONFIG names {path}, which does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    known = set(Settings.model_fields)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.lower().removeprefix(ENV_PREFIX.lower())
        if name not in known:
            raise ConfigError(f"{path}: unknown key {key!r}; known keys are {', '.join(sorted(known))}")
        values[name] = value
    return values


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (or `env`) over the optional TOML file."""
    environ = _read_credential_files(os.environ if env is None else env)
    values: dict[str, Any] = {}
    config_path = environ.get(f"{ENV_PREFIX}CONFIG")
    if config_path:
        values.update(_read_toml(Path(config_path)))
    for name in Settings.model_fields:
        raw = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if raw is not None and raw != "" and name != "added_sources":
            values[name] = raw
    added_names: set[str] = set()
    for source in added_sources():
        names = {part: f"{ENV_PREFIX}{source.slug.upper()}_{part.upper()}" for part in ADDED_SOURCE_VARIABLES}
        added_names.update(names.values())
        given = {part: environ[name] for part, name in names.items() if environ.get(name)}
        if given:
            values.setdefault("added_sources", {})[source.slug] = given
    unknown = sorted(
        key
        for key in environ
        if key.startswith(ENV_PREFIX)
        and key != f"{ENV_PREFIX}CONFIG"
        and key not in added_names
        and key.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
    )
    if unknown:
        log.warning("ignoring unknown configuration variables: %s", ", ".join(unknown))
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _read_credential_files(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` with each `<NAME>_FILE` of a credential replaced by `<NAME>` and the file's contents."""
    resolved = dict(environ)
    for name in credential_variables():
        file_name = name + FILE_SUFFIX
        path = resolved.pop(file_name, "")
        if not path:
            continue
        if environ.get(name):
            raise ConfigError(f"both {name} and {file_name} are set: set one of them")
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{file_name} names {path}, which cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{file_name} names {path}, which is not UTF-8 text") from None
        if not value:
            # An empty mount is a missing Secret key, not a credential: say so rather than run without it.
            raise ConfigError(f"{file_name} names {path}, which is empty")
        resolved[name] = value
    return resolved


def _explain(exc: ValidationError) -> str:
    lines = ["invalid configuration:"]
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"] if part != "__root__"]
        name = f"{ENV_PREFIX}{loc[0].upper()}" if loc else "configuration"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {message}" if loc else f"  {message}")
    return "\n".join(lines)
