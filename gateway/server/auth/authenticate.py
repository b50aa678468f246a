"""From a request's credential to its caller: the one door every authenticated path goes through.

    authenticator = Authenticator.from_settings(settings)       # ConfigError: serve exits 2
    caller = await authenticator.authenticate(request.headers)  # raises Unauthenticated, AuthUnavailable

A credential is `Authorization: Bearer <JWT>` or `X-API-Key: <key>` (a WebSocket sends the same
names in its `connection_init` payload: `credentials(payload)`). No credential makes an ADMIN only
where LEARNGRAPH_ALLOW_ANONYMOUS allows it; a credential that does not hold is refused even then.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gateway.data.callers import Caller
from gateway.server.auth.api_keys import ApiKeys
from gateway.server.auth.errors import Unauthenticated
from gateway.server.auth.jwks import JwksCache
from gateway.server.auth.tokens import TokenVerifier
from gateway.settings import ConfigError, Settings

log = logging.getLogger(__name__)

CREDENTIAL_HEADERS = ("authorization", "x-api-key")
NOTHING_CONFIGURED = (
    "no way to authenticate callers: set LEARNGRAPH_JWT_JWKS_URL, LEARNGRAPH_JWT_ISSUER and "
    "LEARNGRAPH_JWT_AUDIENCE (bearer tokens), or LEARNGRAPH_API_KEYS_FILE (API keys); "
    "LEARNGRAPH_ALLOW_ANONYMOUS=true is for development only"
)


class Authenticator:
    def __init__(
        self,
        *,
        tokens: TokenVerifier | None = None,
        api_keys: ApiKeys | None = None,
        allow_anonymous: bool = False,
    ) -> None:
        self.tokens = tokens
        self.api_keys = api_keys
        self.allow_anonymous = allow_anonymous

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """Raises ConfigError for a keys file that does not parse, or when no caller could ever get in."""
        tokens = None
        if settings.jwt_jwks_url is not None and settings.jwt_issuer:
            tokens = TokenVerifier(
                JwksCache(str(settings.jwt_jwks_url)),
                issuer=settings.jwt_issuer,
                audiences=settings.jwt_audiences,
                person_claim=settings.jwt_person_claim,
                roles_claim=settings.jwt_roles_claim,
            )
        api_keys = ApiKeys.load(settings.api_keys_file) if settings.api_keys_file is not None else None
        if tokens is None and api_keys is None and not settings.allow_anonymous:
            raise ConfigError(NOTHING_CONFIGURED)
        return cls(tokens=tokens, api_keys=api_keys, allow_anonymous=settings.allow_anonymous)

    async def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """The caller `headers` (names in lower case, or a case-insensitive mapping) make."""
        authorization, api_key = headers.get("authorization"), headers.get("x-api-key")
        if authorization is not None and api_key is not None:
            raise Unauthenticated("send one credential: Authorization or X-API-Key, not both")
        if api_key is not None:
            caller = self.api_keys.caller(api_key) if self.api_keys is not None else None
            if caller is None:
                raise Unauthenticated("the API key is not known")
            return caller
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the Authorization header must be `Bearer <token>`")
            if self.tokens is None:
                raise Unauthenticated("bearer tokens are not accepted here: no token issuer is configured")
            return await self.tokens.verify(token.strip())
        if self.allow_anonymous:
            return Caller.anonymous_admin()
        raise Unauthenticated(
            "a credential is required: `Authorization: Bearer <token>` or `X-API-Key: <key>`"
        )

    def describe(self) -> str:
        """What callers are accepted, for the start-up log."""
        ways = []
        if self.tokens is not None:
            ways.append(f"bearer tokens from {self.tokens.issuer}")
        if self.api_keys is not None:
            ways.append(f"{len(self.api_keys)} API keys")
        if self.allow_anonymous:
            ways.append("anonymous callers as ADMIN")
        return ", ".join(ways)

    def log_state(self) -> None:
        log.info("callers accepted: %s", self.describe())
        if self.allow_anonymous:
            log.warning(
                "LEARNGRAPH_ALLOW_ANONYMOUS is on: a request without a credential acts as ADMIN. "
                "For development only; never expose this gateway so."
            )

    async def aclose(self) -> None:
        if self.tokens is not None:
            await self.tokens.keys.aclose()


def credentials(payload: Mapping[str, object] | None) -> dict[str, str]:
    """A WebSocket's credential headers from its `connection_init` payload: at the top level or under
    `headers`, names in any case (`{"Authorization": "Bearer ..."}` or `{"headers": {"X-API-Key": "..."}}`)."""
    found: dict[str, str] = {}
    if not payload:
        return found
    nested = payload.get("headers")
    for source in (nested if isinstance(nested, Mapping) else {}, payload):
        for name, value in source.items():
            if isinstance(name, str) and name.lower() in CREDENTIAL_HEADERS and isinstance(value, str):
                found[name.lower()] = value
    return found


def has_credential(headers: Mapping[str, str]) -> bool:
    return any(headers.get(name) is not None for name in CREDENTIAL_HEADERS)
