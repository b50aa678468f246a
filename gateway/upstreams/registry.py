"""The enabled upstream connectors of one gateway process, built from settings.

upstreams = Upstreams.open(settings)          # one pooled client per enabled source
upstreams.damstra                             # DamstraClient, or None when disabled
await upstreams.aclose()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from gateway.errors import UpstreamError
from gateway.settings import Settings
from gateway.sources import Source
from gateway.upstreams.auth import credential_fingerprint
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.iscout.client import IScoutClient
from gateway.upstreams.learninglogin.client import LearningLoginClient
from gateway.upstreams.training_records.client import TrainingRecordsClient


class SourceNotConfigured(UpstreamError):
    code = "SOURCE_NOT_CONFIGURED"


Client = DamstraClient | LearningLoginClient | TrainingRecordsClient | IScoutClient
CLIENT_CLASSES: dict[Source, type[Client]] = {
    Source.DAMSTRA: DamstraClient,
    Source.LEARNINGLOGIN: LearningLoginClient,
    Source.TRAINING_RECORDS: TrainingRecordsClient,
    Source.ISCOUT: IScoutClient,
}


@dataclass
class Upstreams:
    damstra: DamstraClient | None = None
    learninglogin: LearningLoginClient | None = None
    training_records: TrainingRecordsClient | None = None
    iscout: IScoutClient | None = None
    fingerprints: dict[Source, str] = field(default_factory=dict)

    @classmethod
    def open(
        cls, settings: Settings, transports: Mapping[Source, httpx.AsyncBaseTransport] | None = None
    ) -> Upstreams:
        upstreams = cls()
        for config in settings.enabled_sources():
            client = CLIENT_CLASSES[config.source].connect(
                config.url,
                secret=config.secret,
                timeout_seconds=config.timeout_seconds,
                retry_attempts=settings.read_retry_attempts,
                transport=(transports or {}).get(config.source),
            )
            setattr(upstreams, config.source.slug, client)
            upstreams.fingerprints[config.source] = credential_fingerprint(
                config.url, config.secret.get_secret_value()
            )
        return upstreams

    def cache_scope(self, source: Source) -> str:
        """The cache scope of what `source` answers: entries read with another credential never mix."""
        return self.fingerprints.get(source, "")

    def enabled(self) -> list[Source]:
        return [source for source in Source if getattr(self, source.slug) is not None]

    def client(self, source: Source) -> Client:
        client: Client | None = getattr(self, source.slug)
        if client is None:
            raise SourceNotConfigured(source.slug, f"{source.name} is not configured on this gateway")
        return client

    async def aclose(self) -> None:
        for source in self.enabled():
            await self.client(source).aclose()

    # Typed accessors: the loaders ask for a vendor and get its own client class.
    def need_damstra(self) -> DamstraClient:
        if self.damstra is None:
            raise SourceNotConfigured("damstra", "DAMSTRA is not configured on this gateway")
        return self.damstra

    def need_learninglogin(self) -> LearningLoginClient:
        if self.learninglogin is None:
            raise SourceNotConfigured("learninglogin", "LEARNINGLOGIN is not configured on this gateway")
        return self.learninglogin

    def need_training_records(self) -> TrainingRecordsClient:
        if self.training_records is None:
            raise SourceNotConfigured(
                "training_records", "TRAINING_RECORDS is not configured on this gateway"
            )
        return self.training_records

    def need_iscout(self) -> IScoutClient:
        if self.iscout is None:
            raise SourceNotConfigured("iscout", "ISCOUT is not configured on this gateway")
        return self.iscout
