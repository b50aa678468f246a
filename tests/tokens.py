"""Real signed tokens for the shared gateway fixtures: an RSA key made here, its JWKS served by a
plain HTTP server on loopback (a thread, so it outlives each test's event loop), tokens minted for
any `Caller`. `Gateway.as_caller` sends them, so the access tests pass authentication for real."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.data.callers import Caller

ISSUER = "https://login.fixtures.test"
AUDIENCE = "learngraph-fixtures"
KID = "fixtures-1"


class FixtureIssuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        body = orjson.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]})

        class JWKS(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JWKS)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def env(self) -> dict[str, str]:
        """The settings that make a gateway trust these tokens."""
        return {
            "LEARNGRAPH_JWT_JWKS_URL": f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json",
            "LEARNGRAPH_JWT_ISSUER": ISSUER,
            "LEARNGRAPH_JWT_AUDIENCE": AUDIENCE,
        }

    def token(self, caller: Caller) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": caller.name,
            "roles": [caller.role.name],
            "iat": now,
            "exp": now + 3600,
        }
        if caller.person is not None:
            claims["email"] = str(caller.person)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    def headers(self, caller: Caller) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(caller)}"}


@functools.cache
def fixture_issuer() -> FixtureIssuer:
    """One per test session: a key and a server cost more than a test."""
    return FixtureIssuer()
