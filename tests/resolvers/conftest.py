"""Every mutation answer these tests produce must survive the trip a replay on another replica takes:
stored as JSON in Redis (`gateway.data.shared.codec`), rebuilt equal. A payload field of a type the codec
cannot write (or rebuild) fails here, not in a multi-replica deployment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.data.idempotency import Attempt, InProcessIdempotencyStore, SharedIdempotencyStore
from gateway.data.shared.codec import ObjectCodec
from gateway.server.app import ANSWER_MODULES

CODEC = ObjectCodec(ANSWER_MODULES)


@pytest.fixture(autouse=True)
def every_answer_is_storable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for store in (InProcessIdempotencyStore, SharedIdempotencyStore):
        monkeypatch.setattr(store, "run", _checked(store.run))
    yield


def _checked(run: Any) -> Any:
    async def checked(
        self: Any,
        operation: str,
        key: str | None,
        fingerprint: str,
        attempt: Attempt[Any],
        *,
        caller: str = "",
    ) -> Any:
        answer = await run(self, operation, key, fingerprint, attempt, caller=caller)
        assert CODEC.decode(CODEC.encode(answer)) == answer, f"{operation}'s answer does not survive JSON"
        return answer

    return checked
