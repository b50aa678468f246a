"""What a vendor registered beyond the built-in four brings to the graph: its completions, and
the lessons and people they name. The four built-in vendors have richer mappings of their own
(schedules, groups, ILT sessions) in the loaders and resolvers; a new vendor starts here.

A vendor `acme` (the `Source` member `ACME = "acme"`) adds the module `gateway/data/vendors/acme.py`:

    async def completions(client: AcmeClient, user_ids: Sequence[str] | None) -> list[CompletionItem]:
        '''Every completion of these accounts (None: of everyone), in any order.'''

Found by its slug, so registering the vendor is the one `Source` line (ARCHITECTURE.md).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from gateway.data.completions import CompletionItem
from gateway.sources import Source


class CompletionsReader(Protocol):
    def __call__(self, client: Any, user_ids: Sequence[str] | None, /) -> Awaitable[list[CompletionItem]]: ...


@functools.cache
def completions_reader(source: Source) -> CompletionsReader | None:
    """The vendor's `completions`, or None for the built-in four (and a vendor that has none)."""
    name = f"{__name__}.{source.slug}"
    if importlib.util.find_spec(name) is None:
        return None
    reader: CompletionsReader | None = getattr(importlib.import_module(name), "completions", None)
    return reader
