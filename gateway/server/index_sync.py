"""The training index's sync in a gateway's lifespan: started when an index is configured.

    running = await start_index_sync(services)     # None without an index, or LEARNGRAPH_INDEX_SYNC=false
    ...
    if running: await running.aclose()

The lifespan opens the index (`services.index`) first; this builds the syncer with the lock the
deployment allows (Redis, else PostgreSQL's advisory lock, else this process alone), wires it into
`services.sync` (webhooks and own writes reach it there) and starts it; the sync runs in the
background, so the gateway serves at once, on the live path until each source is LIVE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.data.context import Services
from gateway.data.identity import IdentityDirectory
from gateway.index.sink import Login
from gateway.index.store import TrainingIndex
from gateway.index.syncer import IndexSyncer

log = logging.getLogger("gateway.server.index_sync")


@dataclass
class RunningSync:
    syncer: IndexSyncer
    index: TrainingIndex

    async def aclose(self) -> None:
        """Stops the sync (the lock given back); the index stays the lifespan's to close."""
        await self.syncer.stop()


async def start_index_sync(services: Services) -> RunningSync | None:
    settings = services.settings
    index = services.index
    if index is None or not settings.index_sync:
        return None
    syncer = IndexSyncer.for_index(
        index, services.upstreams, settings, logins=lambda: learninglogin_logins(services.directory)
    )
    services.sync = syncer
    await syncer.start()
    log.info("the training index (%s) syncs %s", index.dialect, ", ".join(s.name for s in syncer.enabled))
    return RunningSync(syncer, index)


def learninglogin_logins(directory: IdentityDirectory) -> list[Login]:
    """The LearningLogin logins the identity file links to people: the index reads each one's train
    sessions by its username, so each is indexed under its login (a session names none)."""
    return [
        Login(login_id, username)
        for person in directory.people
        for login_id, username in person.learninglogin_usernames.items()
    ]
