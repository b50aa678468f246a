"""What every vendor client shares: built from a base URL and a credential, closed once.

class DamstraClient(Connector):
    source = Source.DAMSTRA
    decode_error = staticmethod(decode_damstra_error)

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return HeaderAuth("AccessKey", secret)

client = DamstraClient.connect("https://app.velpic.com/api/v2", secret=key)
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import httpx
from pydantic import SecretStr

from gateway.errors import UpstreamError
from gateway.settings import Settings
from gateway.sources import Source
from gateway.upstreams.auth import Auth
from gateway.upstreams.http import UpstreamHTTP


class Connector:
    source: ClassVar[Source]

    def __init__(self, http: UpstreamHTTP) -> None:
        self.http = http

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        raise NotImplementedError

    @staticmethod
    def decode_error(source: Source, response: httpx.Response, body: Any) -> UpstreamError | None:
        """The vendor's error reader (see `ErrorDecoder`)."""
        raise NotImplementedError

    @classmethod
    def connect(
        cls,
        base_url: str,
        *,
        secret: SecretStr,
        timeout_seconds: float = 10.0,
        retry_attempts: int = 3,
        retry_wait_seconds: float = 0.05,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
        max_rps: float = 0.0,
    ) -> Self:
        http = UpstreamHTTP(
            cls.source,
            base_url,
            cls.auth(secret),
            decode_error=cls.decode_error,
            timeout_seconds=timeout_seconds,
            retry_attempts=retry_attempts,
            retry_wait_seconds=retry_wait_seconds,
            transport=transport,
            max_connections=max_connections,
            max_rps=max_rps,
        )
        return cls(http)

    def configure(self, settings: Settings) -> None:
        """Takes the vendor's own settings (the forms its document leaves open); most have none."""

    async def probe(self) -> None:
        """The smallest authenticated read: answers when the upstream serves this credential."""
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.http.aclose()
