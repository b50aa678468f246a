"""A token issuer of the test's own: keys made here, its JWKS served by uvicorn on loopback, real signed tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.server import serve_on_loopback

ISSUER = "https://login.example.test/realms/training"
AUDIENCE = "learngraph-api"
KID = "key-1"
ADMIN_KEY = "compliance-dashboard-key-0123456789"
KIOSK_KEY = "site-kiosk-key-9876543210"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


KEYS_YAML = f"""keys:
  - name: compliance-dashboard
    sha256: "{sha256(ADMIN_KEY)}"
    role: ADMIN
  - name: site-kiosk
    sha256: {sha256(KIOSK_KEY)}
    role: trainee
    person: ava.smith0@example.com
"""


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, **extra: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", **extra}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A token put together by hand: for `alg: none` and other things no library will sign."""
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)))


def hs256(claims: dict[str, Any], secret: bytes, kid: str = KID) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


@dataclass
class Issuer:
    """An OIDC provider as the gateway sees it: a JWKS URL (served on loopback) and the tokens it signs."""

    address: str
    key: rsa.RSAPrivateKey
    jwks: dict[str, Any]
    hits: list[float] = field(default_factory=list)

    @property
    def jwks_url(self) -> str:
        return f"{self.address}/jwks.json"

    def env(self) -> dict[str, str]:
        return {
            "LEARNGRAPH_JWT_JWKS_URL": self.jwks_url,
            "LEARNGRAPH_JWT_ISSUER": ISSUER,
            "LEARNGRAPH_JWT_AUDIENCE": AUDIENCE,
        }

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A trainee's claims, valid for five minutes; a change to None drops the claim."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "f3a1-trainee",
            "email": "Ava.Smith0@example.com",
            "roles": ["TRAINEE"],
            "iat": now,
            "exp": now + 300,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(
        self,
        *,
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey | None = None,
        kid: str | None = KID,
        algorithm: str = "RS256",
        **changes: Any,
    ) -> str:
        headers = {"kid": kid} if kid is not None else {}
        return jwt.encode(self.claims(**changes), key or self.key, algorithm=algorithm, headers=headers)


@pytest.fixture
async def issuer(rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[Issuer]:
    jwks: dict[str, Any] = {"keys": [public_jwk(rsa_key, KID)]}
    hits: list[float] = []

    async def serve_jwks(request: Request) -> Response:
        hits.append(time.monotonic())
        return JSONResponse(jwks)

    app = Starlette(routes=[Route("/jwks.json", serve_jwks)])
    async with serve_on_loopback(app) as address:
        yield Issuer(address, rsa_key, jwks, hits)
