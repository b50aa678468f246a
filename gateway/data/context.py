"""What every resolver gets: built once per request by the context getter.

info.context.loaders.lesson.load("1234")
info.context.people.for_account(Source.DAMSTRA, "12345")
info.context.report(error, info)      # a partial failure: data stays, the error is listed
info.context.caller                   # who is calling (gateway.data.callers.Caller)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.data.cache import EntityCache
from gateway.data.callers import Caller
from gateway.data.events import EventBus, InProcessEventBus
from gateway.data.idempotency import IdempotencyStore
from gateway.data.identity import IdentityDirectory
from gateway.data.listings import Listings
from gateway.data.loaders import Loaders
from gateway.data.people import People
from gateway.data.writes import Writes
from gateway.settings import Settings
from gateway.upstreams.registry import Upstreams


@dataclass
class PartialError:
    error: Exception
    path: list[str | int]


@dataclass
class Services:
    """Process-wide parts the app builds once in its lifespan."""

    settings: Settings
    upstreams: Upstreams
    cache: EntityCache
    directory: IdentityDirectory
    events: EventBus = field(default_factory=InProcessEventBus)
    idempotency: IdempotencyStore = field(default_factory=lambda: IdempotencyStore(86_400.0))


@dataclass
class Context:
    services: Services
    loaders: Loaders
    people: People
    listings: Listings
    writes: Writes
    caller: Caller
    partial_errors: list[PartialError] = field(default_factory=list)
    request: Any = None
    response: Any = None
    # A WebSocket's `connection_init` payload (Strawberry sets it); its credential names the caller.
    connection_params: dict[str, Any] | None = None

    @classmethod
    def build(
        cls, services: Services, request: Any = None, response: Any = None, *, caller: Caller
    ) -> Context:
        loaders = Loaders(services.upstreams, services.cache)
        return cls(
            services,
            loaders,
            People(services.directory, loaders),
            Listings(services.upstreams, services.cache),
            Writes(services.upstreams),
            caller,
            request=request,
            response=response,
        )

    def refresh_after_write(self) -> None:
        """Fresh loaders (and people over them): what this request read before a write is stale now."""
        self.loaders = Loaders(self.services.upstreams, self.services.cache)
        self.people = People(self.services.directory, self.loaders)

    def report(self, error: Exception, path: list[str | int]) -> None:
        """Record a failure of one source while the field still answers with what the others gave."""
        self.partial_errors.append(PartialError(error, path))
