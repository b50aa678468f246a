"""An OIDC issuer's signing keys, fetched from its JWKS URL and kept.

    keys = JwksCache("https://login.example.com/.well-known/jwks.json")
    key = await keys.key("kid-1", "RS256")       # a PyJWK bound to RS256; None if no such key
    await keys.aclose()

Keys are fetched on first use and kept for an hour. A token naming an unknown `kid` (the issuer
rotated its keys) fetches them again, at most once a minute whatever tokens arrive: a stream of
made-up kids must not become a stream of requests to the issuer. A failed fetch keeps the keys
already held; with none held, verification is unavailable (`JwksUnavailable`) rather than refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

REFETCH_INTERVAL_SECONDS = 60.0
MAX_AGE_SECONDS = 3600.0
# With no keys at all, every token waits on the issuer: try again sooner than once a minute.
RETRY_WITHOUT_KEYS_SECONDS = 5.0
FETCH_TIMEOUT_SECONDS = 5.0

# The curve each EC algorithm signs with; a key's curve must be its token's.
_EC_ALGORITHM = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


class JwksUnavailable(Exception):
    """The issuer's keys could not be fetched and none are held."""


class KeyMismatch(Exception):
    """The token's algorithm is not one its key signs with."""


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        refetch_interval: float = REFETCH_INTERVAL_SECONDS,
        max_age: float = MAX_AGE_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self.fetches = 0  # requests made to the issuer, for tests and logs
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._keys: dict[str | None, dict[str, Any]] | None = None
        self._bound: dict[tuple[str | None, str], jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not

    async def key(self, kid: str | None, algorithm: str) -> jwt.PyJWK | None:
        """The key `kid` names, bound to `algorithm`; None if the issuer has no such key.
        Raises KeyMismatch if the key does not sign with `algorithm`, JwksUnavailable if no keys can be had."""
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at >= self.max_age:
            await self._refresh(self._attempted_at)
        jwk = self._find(kid)
        if jwk is None:
            await self._refresh(self._attempted_at)
            jwk = self._find(kid)
        if jwk is None:
            return None
        return self._bind(kid, jwk, algorithm)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        keys = self._keys or {}
        if kid is None and len(keys) == 1:
            # A token without a kid is unambiguous only against a single key.
            return next(iter(keys.values()))
        return keys.get(kid) if kid is not None else None

    def _due(self) -> bool:
        if self._attempted_at is None:
            return True
        wait = self.refetch_interval if self._keys else min(self.refetch_interval, RETRY_WITHOUT_KEYS_SECONDS)
        return self._clock() - self._attempted_at >= wait

    async def _refresh(self, seen_attempt: float | None) -> None:
        async with self._lock:
            if self._attempted_at != seen_attempt or not self._due():
                # Fetched meanwhile by another request, or too recently to ask again.
                if self._keys is None:
                    raise JwksUnavailable(f"the token issuer's keys could not be fetched from {self.url}")
                return
            self._attempted_at = self._clock()
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("could not fetch the token issuer's keys from %s: %s", self.url, exc)
                if self._keys is None:
                    raise JwksUnavailable(
                        f"the token issuer's keys could not be fetched from {self.url}"
                    ) from None
                return
            self._keys, self._bound = keys, {}
            self._fetched_at = self._attempted_at

    async def _fetch(self) -> dict[str | None, dict[str, Any]]:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=FETCH_TIMEOUT_SECONDS)
        self.fetches += 1
        response = await self._client.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        listed = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(listed, list):
            raise ValueError("the answer is not a JWK set (no `keys` list)")
        keys: dict[str | None, dict[str, Any]] = {}
        for jwk in listed:
            # Only keys that sign, and never a shared secret: tokens are verified with public keys.
            if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP"):
                continue
            if jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid")
            keys[kid if isinstance(kid, str) else None] = jwk
        log.info("fetched %d signing keys from %s", len(keys), self.url)
        return keys

    def _bind(self, kid: str | None, jwk: dict[str, Any], algorithm: str) -> jwt.PyJWK:
        bound = self._bound.get((kid, algorithm))
        if bound is not None:
            return bound
        if not _signs_with(jwk, algorithm):
            raise KeyMismatch(f"the token's algorithm {algorithm} is not its key's")
        try:
            bound = jwt.PyJWK(jwk, algorithm)
        except (jwt.exceptions.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise KeyMismatch(f"the token's key cannot verify {algorithm}: {exc}") from None
        self._bound[(kid, algorithm)] = bound
        return bound


def _signs_with(jwk: dict[str, Any], algorithm: str) -> bool:
    declared = jwk.get("alg")
    if declared is not None:
        return bool(declared == algorithm)
    kty = jwk.get("kty")
    if kty == "RSA":
        return algorithm[:2] in ("RS", "PS")
    if kty == "EC":
        return _EC_ALGORITHM.get(jwk.get("crv", "")) == algorithm
    return kty == "OKP" and algorithm == "EdDSA" and jwk.get("crv") in ("Ed25519", "Ed448")
