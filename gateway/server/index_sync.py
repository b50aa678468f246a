"""The training index's sync in a gateway's lifespan: started when an index is configured.

    running = await start_index_sync(services)     # None without LEARNGRAPH_INDEX_PATH / _URL
    ...
    if running: await running.aclose()

It opens the index (unless the services hold one already), builds the syncer with the lock the
deployment allows (Redis, else PostgreSQL's advisory lock, else this process alone), wires it into
`services.sync` (webhooks and own writes reach it there) and starts it; the sync runs in the
background, so the gateway serves at once, on the live path until each source is LIVE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.data.context import Services
from gateway.index.store import TrainingIndex
from gateway.index.syncer import IndexSyncer

log = logging.getLogger("gateway.server.index_sync")


@dataclass
class RunningSync:
    syncer: IndexSyncer
    index: TrainingIndex
    own_index: bool

    async def aclose(self) -> None:
        await self.syncer.stop()
        if self.own_index:
            await self.index.close()


async def start_index_sync(services: Services) -> RunningSync | None:
    settings = services.settings
    if not settings.index_enabled:
        return None
    held: TrainingIndex | None = getattr(services, "index", None)
    index = held or await TrainingIndex.from_settings(settings)
    if index is None:
        return None
    syncer = IndexSyncer.for_index(index, services.upstreams, settings)
    services.sync = syncer
    await syncer.start()
    log.info("the training index (%s) syncs %s", index.dialect, ", ".join(s.name for s in syncer.enabled))
    return RunningSync(syncer, index, own_index=held is None)
