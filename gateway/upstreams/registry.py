"""The enabled upstream connectors of one gateway process, built from settings.

upstreams = Upstreams.open(settings)          # one pooled client per enabled source
upstreams.need_damstra()                      # DamstraClient, or SourceNotConfigured
upstreams.client(Source.ACME)                 # any source's connector, found by its slug
await upstreams.aclose()

Each source's connector class is `CONNECTOR` in `gateway/upstreams/<slug>/client.py`: a vendor added
beyond the four needs no line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from gateway.errors import UpstreamError
from gateway.settings import Settings
from gateway.sources import Source
from gateway.upstreams.auth import credential_fingerprint
from gateway.upstreams.connector import Connector
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.iscout.client import IScoutClient
from gateway.upstreams.learninglogin.client import LearningLoginClient
from gateway.upstreams.training_records.client import TrainingRecordsClient

C = TypeVar("C", bound=Connector)


class SourceNotConfigured(UpstreamError):
    code = "SOURCE_NOT_CONFIGURED"


def connector_class(source: Source) -> type[Connector]:
    """`CONNECTOR` of `gateway.upstreams.<slug>.client`."""
    found: type[Connector] = importlib.import_module(f"gateway.upstreams.{source.slug}.client").CONNECTOR
    return found


@dataclass
class Upstreams:
    clients: dict[Source, Connector] = field(default_factory=dict)
    fingerprints: dict[Source, str] = field(default_factory=dict)

    @classmethod
    def open(
        cls, settings: Settings, transports: Mapping[Source, httpx.AsyncBaseTransport] | None = None
    ) -> Upstreams:
        upstreams = cls()
        for config in settings.enabled_sources():
            client = connector_class(config.source).connect(
                config.url,
                secret=config.secret,
                timeout_seconds=config.timeout_seconds,
                retry_attempts=settings.read_retry_attempts,
                transport=(transports or {}).get(config.source),
                max_connections=config.max_connections,
                max_rps=config.max_rps,
            )
            client.configure(settings)
            upstreams.clients[config.source] = client
            upstreams.fingerprints[config.source] = credential_fingerprint(
                config.url, config.secret.get_secret_value()
            )
        return upstreams

    def cache_scope(self, source: Source) -> str:
        """The cache scope of what `source` answers: entries read with another credential never mix."""
        return self.fingerprints.get(source, "")

    def enabled(self) -> list[Source]:
        return [source for source in Source if source in self.clients]

    def has(self, source: Source) -> bool:
        return source in self.clients

    def client(self, source: Source) -> Connector:
        client = self.clients.get(source)
        if client is None:
            raise SourceNotConfigured(source.slug, f"{source.name} is not configured on this gateway")
        return client

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    # Typed accessors: the loaders ask for a vendor and get its own client class.
    def _typed(self, source: Source, kind: type[C]) -> C:
        client = self.client(source)
        assert isinstance(client, kind)
        return client

    def need_damstra(self) -> DamstraClient:
        return self._typed(Source.DAMSTRA, DamstraClient)

    def need_learninglogin(self) -> LearningLoginClient:
        return self._typed(Source.LEARNINGLOGIN, LearningLoginClient)

    def need_training_records(self) -> TrainingRecordsClient:
        return self._typed(Source.TRAINING_RECORDS, TrainingRecordsClient)

    def need_iscout(self) -> IScoutClient:
        return self._typed(Source.ISCOUT, IScoutClient)
