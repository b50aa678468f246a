"""The sandbox's OIDC-style token issuer: what `learngraph demo` trusts, and tokens for the seeded people.

    issuer = SandboxIssuer.from_seed(7)
    env = issuer.gateway_env("http://127.0.0.1:8100")           # LEARNGRAPH_JWT_* pointing at it
    token = issuer.mint(issuer_url, "ava.smith0@example.com", ["SUPERVISOR"])
    app = issuer.asgi_app()     # mounted at /oidc: GET /.well-known/jwks.json, GET /.well-known/openid-configuration,
                                # POST /token {"email": ..., "roles": [...], "lifetimeSeconds": ...} (sandbox only)

The signing key (ES256) is derived from the seed, so a demo started again with the same `--seed` still
accepts the tokens it printed before, and a GraphiQL tab left open keeps working.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.world import World

MOUNT = "/oidc"
AUDIENCE = "learngraph"
ALGORITHM = "ES256"
DEMO_TOKEN_LIFETIME_SECONDS = 30 * 86_400
# The order of the P-256 group: a private key is a number in [1, order).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class DemoCaller:
    """A seeded person the demo prints a token for."""

    role: str  # ADMIN, SUPERVISOR or TRAINEE
    email: str
    subject: str
    about: str  # who they are, for the printed line


class SandboxIssuer:
    def __init__(self, key: ec.EllipticCurvePrivateKey, kid: str) -> None:
        self.key = key
        self.kid = kid

    @classmethod
    def from_seed(cls, seed: int) -> SandboxIssuer:
        digest = hashlib.sha256(f"learngraph sandbox issuer {seed}".encode()).digest()
        secret = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
        return cls(ec.derive_private_key(secret, ec.SECP256R1()), kid=f"sandbox-{seed}")

    @staticmethod
    def url(address: str) -> str:
        """The issuer (`iss`) of a sandbox served at `address`."""
        return address.rstrip("/") + MOUNT

    def gateway_env(self, address: str) -> dict[str, str]:
        issuer = self.url(address)
        return {
            "LEARNGRAPH_JWT_JWKS_URL": f"{issuer}/.well-known/jwks.json",
            "LEARNGRAPH_JWT_ISSUER": issuer,
            "LEARNGRAPH_JWT_AUDIENCE": AUDIENCE,
        }

    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}]}

    def mint(
        self,
        issuer: str,
        email: str | None,
        roles: list[str],
        *,
        subject: str | None = None,
        lifetime_seconds: float = 3600.0,
        audience: str = AUDIENCE,
        now: float | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": subject or email or "sandbox",
            "roles": roles,
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(lifetime_seconds),
        }
        if email is not None:
            claims["email"] = email
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def demo_tokens(self, address: str, world: World) -> list[tuple[DemoCaller, str]]:
        issuer = self.url(address)
        return [
            (caller, self.mint(issuer, caller.email, [caller.role], subject=caller.subject,
                               lifetime_seconds=DEMO_TOKEN_LIFETIME_SECONDS))
            for caller in demo_callers(world)
        ]  # fmt: skip

    def asgi_app(self) -> Starlette:
        async def jwks(request: Request) -> Response:
            return JSONResponse(self.jwks())

        async def configuration(request: Request) -> Response:
            issuer = _issuer_of(request)
            return JSONResponse(
                {
                    "issuer": issuer,
                    "jwks_uri": f"{issuer}/.well-known/jwks.json",
                    "token_endpoint": f"{issuer}/token",
                    "id_token_signing_alg_values_supported": [ALGORITHM],
                }
            )

        async def token(request: Request) -> Response:
            body = await request.json()
            if not isinstance(body, dict):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            email, roles = body.get("email"), body.get("roles", [])
            lifetime = body.get("lifetimeSeconds", 3600)
            if not (email is None or isinstance(email, str)) or not isinstance(roles, list):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            if not isinstance(lifetime, int | float):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            issuer = _issuer_of(request)
            minted = self.mint(issuer, email, [str(r) for r in roles], lifetime_seconds=lifetime)
            return JSONResponse({"access_token": minted, "token_type": "Bearer", "expires_in": int(lifetime)})

        return Starlette(
            routes=[
                Route("/.well-known/jwks.json", jwks),
                Route("/.well-known/openid-configuration", configuration),
                Route("/token", token, methods=["POST"]),
            ]
        )


def _issuer_of(request: Request) -> str:
    """The issuer as this request reached it: its URL up to the mount."""
    url = str(request.url.replace(query=""))
    return url[: url.rindex(MOUNT) + len(MOUNT)]


def demo_callers(world: World) -> list[DemoCaller]:
    """One admin (the DAMSTRA administrator), one supervisor (a DAMSTRA user who supervises a group) and
    one trainee (a group member who supervises none), as far as the world has them."""
    damstra = world.damstra
    by_user = {p.damstra_user_id: p for p in world.people if p.damstra_user_id is not None}
    callers: list[DemoCaller] = []
    admin = world.people[0] if world.people else None
    if admin is not None:
        callers.append(DemoCaller("ADMIN", admin.email, admin.email, admin.full_name))
    supervising: dict[int, list[str]] = {}
    for group_id in sorted(damstra.groups):
        group = damstra.groups[group_id]
        for user_id in group.supervisor_ids:
            supervising.setdefault(user_id, []).append(group.name)
    supervisor = next(
        (by_user[uid] for uid in sorted(supervising) if uid in by_user and by_user[uid] is not admin), None
    )
    if supervisor is not None:
        groups = ", ".join(supervising[supervisor.damstra_user_id or 0])
        callers.append(
            DemoCaller(
                "SUPERVISOR",
                supervisor.email,
                supervisor.email,
                f"{supervisor.full_name}, supervises {groups}",
            )
        )
    members = {uid for group in damstra.groups.values() for uid in group.member_ids}
    trainee = next(
        (
            by_user[uid]
            for uid in sorted(members)
            if uid in by_user and uid not in supervising and by_user[uid] is not admin
        ),
        None,
    )
    if trainee is not None:
        callers.append(DemoCaller("TRAINEE", trainee.email, trainee.email, trainee.full_name))
    return callers
