"""LearningLogin into the index: its train sessions (a completed one is a completion), each under the
login it belongs to.

A train session names no login: LearningLogin's documents (seeds 000 and 001, Train Sessions) show a
session's `full_name` only, which is neither unique nor spelt alike on one trainee's sessions
("Michelle Dragsta" / "Dragstra"); its only link to a login is the list's `assignee_login_username_eq`
filter, as the live path reads one person's. So a full pass has two phases:

1. `train_sessions`: the company-wide list, 64 a page (every session, also those of logins the
   identity file links to nobody: an ADMIN's company-wide answers hold them, as live). A session
   already indexed keeps the login it was attributed to.
2. `logins`: one filtered read per login the identity file knows (`logins`), `concurrency` at a time,
   each session stored with its login id and username. One request per login (more only for one with
   more than 64 sessions): the sandbox's 5,000 people have 3,009 logins and 10,565 sessions, so a
   pass is 166 + 3,009 requests, every `LEARNGRAPH_INDEX_LEARNINGLOGIN_REREAD_MINUTES` (360). The
   documents offer nothing cheaper: no login list, no login on a session. After it, a session still
   unattributed belongs to nobody linked: no caller but ADMIN sees it, as live.

Between passes `incremental` reads what the API's own filter finds completed since a day
(`completion_date_gteq`). A session already indexed keeps its login. One new to the index (assigned
and completed since the last full pass) cannot be attributed without a read per login, so it is
reported (`Polled.unattributed`, kept in the sync state) and questions narrowed to some people answer
live (`LEARNINGLOGIN UNATTRIBUTED`) until the next full pass attributes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gateway.errors import UpstreamNotFound
from gateway.index.feeds.base import DONE, Phase
from gateway.index.rows import Kind
from gateway.index.sink import IndexSink, Login
from gateway.sources import Source
from gateway.upstreams.learninglogin.client import PER_PAGE, LearningLoginClient
from gateway.upstreams.learninglogin.records import TrainSession, TrainSessionFilters


@dataclass
class Polled:
    """What an incremental poll read, and the sessions it could attribute to no linked login."""

    read: int = 0
    unattributed: set[str] = field(default_factory=set)


def no_logins() -> Sequence[Login]:
    return ()


class LearningLoginFeed:
    source = Source.LEARNINGLOGIN
    kinds: Sequence[Kind] = (Kind.SCHEDULES, Kind.COMPLETIONS)

    def __init__(
        self,
        client: LearningLoginClient,
        sink: IndexSink,
        logins: Callable[[], Sequence[Login]] = no_logins,
        *,
        concurrency: int = 1,
    ) -> None:
        self.client = client
        self.sink = sink
        self.logins = logins
        self.concurrency = max(1, concurrency)

    def _known_logins(self) -> list[Login]:
        """Every login once, in a stable order (a stopped pass's cursor is a position in it)."""
        return sorted(set(self.logins()), key=lambda login: (login.username, login.login_id))

    def phases(self) -> list[Phase]:
        return [Phase("train_sessions", self._sessions), Phase("logins", self._logins)]

    async def _sessions(self, cursor: Any, at: datetime) -> Any:
        number = int(cursor or 1)
        page = await self.client.train_sessions().page(number)
        await self.sink.put_train_sessions(page.items, at)
        last = len(page.items) < PER_PAGE or (page.total is not None and number * PER_PAGE >= page.total)
        return DONE if last or not page.items else number + 1

    async def _logins(self, cursor: Any, at: datetime) -> Any:
        logins = self._known_logins()
        start = int(cursor or 0)
        chunk = logins[start : start + self.concurrency]
        await asyncio.gather(*(self.reread_login(login, at) for login in chunk))
        end = start + len(chunk)
        return DONE if end >= len(logins) else end

    async def _of_login(self, login: Login, since: date | None = None) -> list[TrainSession]:
        filters = TrainSessionFilters(assignee_login_username_eq=login.username, completion_date_gteq=since)
        return [session async for session in self.client.train_sessions(filters).iterate()]

    async def reread_login(self, login: Login, at: datetime) -> None:
        """One login's sessions, read whole: those indexed under it and no longer listed go."""
        await self.sink.replace_login_sessions(login, await self._of_login(login), at)

    async def reread_login_id(self, login_id: str, at: datetime) -> None:
        """The sessions of the login with this id (one a write named), when the identity file links it."""
        login = next((each for each in self.logins() if each.login_id == login_id), None)
        if login is not None:
            await self.reread_login(login, at)

    async def incremental(self, since: date, at: datetime) -> Polled:
        """The sessions completed on or after `since`, each under its login where one is found."""
        polled = Polled()
        filters = TrainSessionFilters(completion_date_gteq=since)
        batch: list[TrainSession] = []
        async for session in self.client.train_sessions(filters).iterate():
            batch.append(session)
            if len(batch) >= PER_PAGE:
                polled.unattributed |= await self.sink.put_train_sessions(batch, at)
                polled.read, batch = polled.read + len(batch), []
        polled.unattributed |= await self.sink.put_train_sessions(batch, at)
        polled.read += len(batch)
        return polled

    async def reread_session(self, session_id: str, at: datetime) -> None:
        try:
            session = await self.client.get_train_session(session_id)
        except UpstreamNotFound:
            await self.sink.remove_row(Source.LEARNINGLOGIN, Kind.SCHEDULES, session_id)
            return
        await self.sink.put_train_sessions([session], at)
