"""OIDC bearer tokens (JWTs) to callers.

    verifier = TokenVerifier(JwksCache(url), issuer=..., audiences=["learngraph"])
    caller = await verifier.verify(token)        # raises Unauthenticated, AuthUnavailable

Only public-key signatures are accepted: the algorithm is checked against a fixed list before any key
is looked up (so `none` and HS256, whose "key" would be the public key, never reach a verifier), and
must be the one the key signs with. `exp` is required, `nbf` honoured, both with LEEWAY_SECONDS for
clocks that disagree a little; `iss` and `aud` must be the configured ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from gateway.data.callers import Caller, InvalidPersonRef, PersonRef, Role
from gateway.server.auth.errors import AuthUnavailable, Unauthenticated
from gateway.server.auth.jwks import JwksCache, JwksUnavailable, KeyMismatch

ACCEPTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
LEEWAY_SECONDS = 30


class TokenVerifier:
    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        audiences: list[str],
        person_claim: str = "email",
        roles_claim: str = "roles",
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audiences = audiences
        self.person_claim = person_claim
        self.roles_claim = roles_claim

    async def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise Unauthenticated(
                f"the token's algorithm is not accepted (use one of {', '.join(sorted(ACCEPTED_ALGORITHMS))})"
            )
        kid = header.get("kid")
        try:
            key = await self.keys.key(kid if isinstance(kid, str) else None, algorithm)
        except KeyMismatch as exc:
            raise Unauthenticated(str(exc)) from None
        except JwksUnavailable as exc:
            raise AuthUnavailable(str(exc)) from None
        if key is None:
            raise Unauthenticated("the token's signing key (kid) is not one of its issuer's keys")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audiences,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is not meant for this API (audience)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token's issuer is not trusted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not valid") from None
        return self.caller(claims)

    def caller(self, claims: Mapping[str, Any]) -> Caller:
        role = Role.highest(_names(claim(claims, self.roles_claim)))
        person = _person(claim(claims, self.person_claim))
        if person is None and role is not Role.ADMIN:
            raise Unauthenticated(
                f"the token names no person: its {self.person_claim!r} claim must be an email, "
                "a User ID or <source>:<native id>"
            )
        subject = claims.get("sub")
        name = subject if isinstance(subject, str) and subject else str(person or "token")
        return Caller(name=name, role=role, person=person, expires_at=float(claims["exp"]))


def claim(claims: Mapping[str, Any], name: str) -> Any:
    """The claim `name`; if there is none and the name is dotted, the path it spells
    (Keycloak puts realm roles at `realm_access.roles`; Auth0's namespaced claims are URLs with dots)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str)]
    return []


def _person(value: Any) -> PersonRef | None:
    if not isinstance(value, str):
        return None
    try:
        return PersonRef.parse(value)
    except InvalidPersonRef:
        return None
