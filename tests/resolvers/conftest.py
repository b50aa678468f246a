"""Every mutation answer these tests produce must survive the trip a replay on another replica takes:
stored as JSON in Redis (`gateway.data.shared.codec`), rebuilt equal. A payload field of a type the codec
cannot write (or rebuild) fails here, not in a multi-replica deployment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from gateway.data.idempotency import IdempotencyStore
from gateway.data.shared.codec import ObjectCodec
from gateway.server.app import ANSWER_MODULES

CODEC = ObjectCodec(ANSWER_MODULES)


@pytest.fixture(autouse=True)
def every_answer_is_storable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    run = IdempotencyStore.run

    async def checked(
        self: IdempotencyStore,
        operation: str,
        key: str | None,
        fingerprint: str,
        work: Callable[[], Awaitable[Any]],
        *,
        caller: str = "",
    ) -> Any:
        answer = await run(self, operation, key, fingerprint, work, caller=caller)
        assert CODEC.decode(CODEC.encode(answer)) == answer, f"{operation}'s answer does not survive JSON"
        return answer

    monkeypatch.setattr(IdempotencyStore, "run", checked)
    yield
