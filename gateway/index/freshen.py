"""What a webhook names or one of LearnGraph's own writes touched, re-read into the index at once.

    freshen.webhook_received("schedules", "1023", received_at)     # background; coalesced per user
    await freshen.written("complete_record", [(Source.TRAINING_RECORDS, "p-1")], ["record:r-9"], answer)
    await freshen.settle()                                          # every background re-read done

Any replica does this, not only the one holding the sync lock: the webhook reached it, or the write
was made through it, and the index is the replicas' shared one. A re-read that fails is logged and
left to the next full pass; it never fails the webhook's answer or the write.

- DAMSTRA: a user event re-reads the user (names, status, memberships) and their schedules; a
  schedule event the user's schedules. A write re-reads every person it named, the same way, the
  groups it named or made, and the attendance of an ILT session it named.
- Training Records: the records a write named or answered; LearningLogin: the train sessions a write
  named; iScout: the named users' completions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from gateway.index.feeds.damstra import DamstraFeed
from gateway.index.feeds.iscout import IScoutFeed
from gateway.index.feeds.learninglogin import LearningLoginFeed
from gateway.index.feeds.training_records import TrainingRecordsFeed
from gateway.sources import Source
from gateway.telemetry.index_metrics import WEBHOOK_TO_INDEX_SECONDS
from gateway.upstreams.damstra.records import DamstraGroup
from gateway.upstreams.training_records.records import TrainingRecord

log = logging.getLogger("gateway.index.freshen")

Clock = Callable[[], datetime]
Target = tuple[Source, str]
WebhookSubject = Literal["user", "schedules"]  # as `gateway.data.sync_hooks` names them
ILT_WRITES = frozenset(
    {"register", "deregister", "save_attendance", "complete_ilt_session", "cancel_ilt_session"}
)


def _named(objects: Sequence[str], prefix: str) -> list[str]:
    return [o.removeprefix(prefix) for o in objects if o.startswith(prefix)]


class Freshener:
    def __init__(
        self,
        *,
        clock: Clock,
        damstra: DamstraFeed | None = None,
        learninglogin: LearningLoginFeed | None = None,
        training_records: TrainingRecordsFeed | None = None,
        iscout: IScoutFeed | None = None,
    ) -> None:
        self._clock = clock
        self.damstra = damstra
        self.learninglogin = learninglogin
        self.training_records = training_records
        self.iscout = iscout
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._again: dict[tuple[str, str], datetime] = {}
        self.reread = 0  # re-reads done for webhooks

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_received(self, subject: WebhookSubject, user_id: str, received_at: datetime) -> None:
        if self.damstra is None:
            return
        key = (subject, user_id)
        if key in self._running:
            # One re-read is already under way; it may have read before this change: one more after it.
            self._again[key] = received_at
            return
        self._running[key] = asyncio.create_task(self._webhook(key, received_at))

    async def _webhook(self, key: tuple[str, str], received_at: datetime) -> None:
        subject, user_id = key
        try:
            while True:
                await self._reread_damstra(user_id, subject == "user")
                self.reread += 1
                WEBHOOK_TO_INDEX_SECONDS.observe(max(0.0, (self._clock() - received_at).total_seconds()))
                if key not in self._again:
                    break
                received_at = self._again.pop(key)
        except Exception:
            log.exception("the index could not re-read DAMSTRA user %s after a webhook", user_id)
        finally:
            self._running.pop(key, None)
            self._again.pop(key, None)

    async def _reread_damstra(self, user_id: str, with_user: bool) -> None:
        assert self.damstra is not None
        at = self._clock()
        if with_user:
            await self.damstra.reread_user(user_id, at)
        await self.damstra.reread_schedules(user_id, at)

    async def settle(self) -> None:
        """Waits for every re-read under way (and those they start again)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    # -- LearnGraph's own writes ----------------------------------------------------------------

    async def written(
        self, write: str, people: Sequence[Target], objects: Sequence[str], answer: Any
    ) -> None:
        try:
            await self._written(write, people, objects, answer)
        except Exception:
            log.exception("the index could not re-read what the write %s changed", write)

    async def _written(
        self, write: str, people: Sequence[Target], objects: Sequence[str], answer: Any
    ) -> None:
        at = self._clock()
        reads = []
        for source, native_id in dict.fromkeys(people):
            if source is Source.DAMSTRA and self.damstra is not None:
                reads.append(self._reread_damstra(native_id, True))
            elif source is Source.ISCOUT and self.iscout is not None:
                reads.append(self.iscout.reread_user(native_id, at))
            elif source is Source.LEARNINGLOGIN and self.learninglogin is not None:
                reads.append(self.learninglogin.reread_login_id(native_id, at))
        if self.damstra is not None and write in ILT_WRITES:
            reads += [self.damstra.reread_session(s, at) for s in _named(objects, "iltSession:")]
        if self.damstra is not None:
            groups = [g for g in _named(objects, "group:") if g.isdigit()]
            if isinstance(answer, DamstraGroup):
                groups.append(str(answer.id))
            reads += [self.damstra.reread_group(g, at) for g in dict.fromkeys(groups)]
        if self.training_records is not None:
            records = _named(objects, "record:")
            if isinstance(answer, TrainingRecord):
                records.append(answer.api_id)
            reads += [self.training_records.reread_record(r, at) for r in dict.fromkeys(records)]
        if self.learninglogin is not None:
            sessions = _named(objects, "trainSession:")
            reads += [self.learninglogin.reread_session(s, at) for s in sessions]
        await asyncio.gather(*reads)
