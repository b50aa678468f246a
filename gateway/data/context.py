"""What every resolver gets: built once per request by the context getter.

info.context.loaders.lesson.load("1234")
info.context.people.for_account(Source.DAMSTRA, "12345")
info.context.report(error, info)      # a partial failure: data stays, the error is listed
info.context.caller                   # who is calling (`gateway.data.callers`)

Every read and write of the context's loaders, listings, people and writes applies the caller's
rights (`gateway.data.access`, `gateway.data.writes`); an ADMIN's are the unguarded ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from gateway.data.access import Access
from gateway.data.cache import SCHEDULE_KINDS, EntityCache
from gateway.data.callers import Caller, Role
from gateway.data.deliveries import DeliveryMemory, InProcessDeliveries
from gateway.data.events import EventBus, EventFilter, InProcessEventBus, TrainingEvent
from gateway.data.fairness import CallerCounters, InProcessCallerCounters
from gateway.data.idempotency import IdempotencyStore, InProcessIdempotencyStore
from gateway.data.identity import IdentityDirectory
from gateway.data.indexed import IndexedReads
from gateway.data.listings import Listings
from gateway.data.loaders import Loaders
from gateway.data.people import People
from gateway.data.shared.link import RedisLink
from gateway.data.sync_hooks import IndexSync
from gateway.data.writes import Writes
from gateway.index.store import TrainingIndex
from gateway.settings import Settings
from gateway.upstreams import allowance as allowances
from gateway.upstreams.registry import Upstreams


def asks_fresh(request: Any) -> bool:
    """`Cache-Control: no-cache` on an HTTP request (RFC 9111 5.2.1.4): answer from the upstreams, not a
    cache. Not on a WebSocket: browsers send it on every handshake, whatever the page asks."""
    if getattr(request, "scope", {}).get("type") != "http":
        return False
    headers = getattr(request, "headers", None)
    value = headers.get("cache-control") if headers is not None else None
    return isinstance(value, str) and "no-cache" in {part.strip().lower() for part in value.split(",")}


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
    idempotency: IdempotencyStore = field(default_factory=lambda: InProcessIdempotencyStore(86_400.0))
    deliveries: DeliveryMemory = field(default_factory=lambda: InProcessDeliveries(600.0))
    fairness: CallerCounters = field(default_factory=lambda: InProcessCallerCounters(0, 0))
    # Redis, when state is shared with other replicas (`gateway.data.shared`); None: this process alone.
    shared: RedisLink | None = None
    # The training index (LEARNGRAPH_INDEX_PATH / _URL), opened by the lifespan; None: none configured.
    index: TrainingIndex | None = None
    # The training index's sync, when an index is configured: webhooks and own writes reach it here.
    sync: IndexSync | None = None

    async def flush(self) -> None:
        """Waits until this process's cache drops and events are where the other replicas read them."""
        if self.shared is not None:
            await self.shared.flush()


@dataclass
class Context:
    services: Services
    loaders: Loaders
    people: People
    listings: Listings
    writes: Writes
    caller: Caller
    indexed: IndexedReads
    partial_errors: list[PartialError] = field(default_factory=list)
    request: Any = None
    response: Any = None
    access: Access | None = None  # None for ADMIN: nothing to check
    # A WebSocket's `connection_init` payload (Strawberry sets it); its credential names the caller.
    connection_params: dict[str, Any] | None = None
    # The cross-request caches as this request reads them: `Cache-Control: no-cache` reads afresh.
    cache: EntityCache | None = None

    @classmethod
    def build(
        cls, services: Services, request: Any = None, response: Any = None, *, caller: Caller
    ) -> Context:
        cache = services.cache.refreshing() if asks_fresh(request) else services.cache
        access = None
        if caller.role is not Role.ADMIN:
            access = Access(caller, services.upstreams, cache, services.directory)
        loaders = Loaders(services.upstreams, cache, access)
        return cls(
            services,
            loaders,
            People(services.directory, loaders, access),
            Listings(services.upstreams, cache, access),
            Writes(services.upstreams, caller, access, request, cache, sync=services.sync),
            caller,
            IndexedReads(services.index, services.directory, loaders, access),
            request=request,
            response=response,
            access=access,
            cache=cache,
        )

    def act_as(self, caller: Caller) -> None:
        """From now on this context reads and writes as `caller` (a WebSocket names its caller only in
        its `connection_init`, after the context was built)."""
        fresh = Context.build(self.services, self.request, self.response, caller=caller)
        self.caller, self.access = fresh.caller, fresh.access
        self.loaders, self.people, self.listings, self.writes, self.indexed = (
            fresh.loaders,
            fresh.people,
            fresh.listings,
            fresh.writes,
            fresh.indexed,
        )

    def refresh_after_write(self) -> None:
        """Fresh loaders (and people over them): what this request read before a write is stale now."""
        if self.access is not None:
            self.access.refresh()
        self.loaders = Loaders(self.services.upstreams, self.cache or self.services.cache, self.access)
        self.people = People(self.services.directory, self.loaders, self.access)

    def read_schedules_fresh(self) -> None:
        """From now on this request reads people's schedules from the upstreams (storing what it reads):
        a mutation decides what to write on what the upstream holds now, not on a cached list."""
        self.cache = (self.cache or self.services.cache).refreshing(SCHEDULE_KINDS)
        self.loaders = Loaders(self.services.upstreams, self.cache, self.access)
        self.people = People(self.services.directory, self.loaders, self.access)
        uses = self.indexed.uses
        self.indexed = IndexedReads(self.services.index, self.services.directory, self.loaders, self.access)
        self.indexed.uses = uses

    def refresh_for_event(self) -> None:
        """Before a subscription's next event is answered: fresh loaders, and a fresh upstream budget
        and deadline (each event is answered as an operation of its own)."""
        self.refresh_after_write()
        allowance = allowances.current()
        if allowance is not None:
            allowance.renew()

    @contextlib.asynccontextmanager
    async def training_events(
        self, accepts: EventFilter | None = None
    ) -> AsyncIterator[AsyncIterator[TrainingEvent]]:
        """Training events as they are published, those `accepts` keeps, about people the caller may
        see (as they were when the subscription began); for ADMIN, every one."""
        if self.access is not None:
            seen = await self.access.visibility()
            wanted = accepts

            def visible(event: TrainingEvent) -> bool:
                if not seen.sees(event.source, event.user_id):
                    return False
                return wanted is None or wanted(event)

            accepts = visible
        async with self.services.events.subscribe(accepts) as stream:
            yield stream

    def report(self, error: Exception, path: list[str | int]) -> None:
        """Record a failure of one source while the field still answers with what the others gave."""
        self.partial_errors.append(PartialError(error, path))
