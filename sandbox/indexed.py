"""A dict of world objects that keeps lookups by attribute current through every write.

    schedules = IndexedDict(user=lambda s: s.user_id)
    schedules[70001] = schedule                    # stored, and filed under its user
    schedules.keys_where("user", 10001)            # that user's schedule ids, in no particular order
    schedules.in_order(keys)                       # ... in the dict's own (insertion) order

The world stays plain data that handlers and tests change directly (`state.schedules[sid] = s`,
`del state.records[api_id]`, `.pop`, `.update`): every write to a `MutableMapping` goes through
`__setitem__`/`__delitem__`, so the lookups cannot drift from the data. An indexed attribute is read when
the object is stored; to change one, store the object again (the sandbox never changes one in place).
The lookups are built on first use, so building a world costs no more than filling a dict.
"""

from __future__ import annotations

from collections.abc import (
    Callable,
    Collection,
    Hashable,
    ItemsView,
    Iterator,
    KeysView,
    MutableMapping,
    ValuesView,
)
from itertools import repeat
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class IndexedDict(MutableMapping[K, V]):
    __slots__ = ("_data", "_indexes", "_buckets", "_filed", "_next_position", "_sorted")

    def __init__(self, **indexes: Callable[[V], Hashable]) -> None:
        self._data: dict[K, V] = {}
        self._indexes = indexes
        # index name -> indexed value -> the keys filed under it (a dict used as an ordered set).
        # None until first use; from then on kept current by every write.
        self._buckets: dict[str, dict[Hashable, dict[K, None]]] | None = None
        # key -> (its place in the dict's order, the values it is filed under, one per index)
        self._filed: dict[K, tuple[int, tuple[Hashable, ...]]] = {}
        self._next_position = 0
        self._sorted: list[V] | None = None

    # -- the mapping ------------------------------------------------------------------------------

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._sorted = None
        if self._buckets is not None:
            filed = self._filed.get(key)
            if filed is None:
                position = self._next_position
                self._next_position += 1
            else:
                position = filed[0]
                self._unfile(key, filed[1])
            self._file(key, value, position)
        self._data[key] = value

    def __delitem__(self, key: K) -> None:
        del self._data[key]
        self._sorted = None
        if self._buckets is not None:
            self._unfile(key, self._filed.pop(key)[1])

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    # The dict's own views: reading stays as fast as a plain dict's.
    def keys(self) -> KeysView[K]:
        return self._data.keys()

    def values(self) -> ValuesView[V]:
        return self._data.values()

    def items(self) -> ItemsView[K, V]:
        return self._data.items()

    def popitem(self) -> tuple[K, V]:
        # Last in, first out, as a dict's (MutableMapping's would take the first).
        if not self._data:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(self._data))
        value = self._data[key]
        del self[key]
        return key, value

    def clear(self) -> None:
        self._data.clear()
        self._sorted = None
        self._buckets = None
        self._filed = {}
        self._next_position = 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IndexedDict):
            return self._data == other._data
        return self._data == other

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dict

    def __repr__(self) -> str:
        return f"IndexedDict({self._data!r})"

    # -- lookups ----------------------------------------------------------------------------------

    def build_lookups(self) -> None:
        """File every object now, rather than at the first lookup."""
        self._lookups()

    def keys_where(self, index: str, value: Hashable) -> Collection[K]:
        """The keys of the objects filed under `value` by `index`, in no particular order."""
        found = self._lookups()[index].get(value)
        return tuple(found) if found is not None else ()  # a copy: the caller may write while reading it

    def indexed_values(self, index: str) -> Collection[Hashable]:
        """Every value `index` files some object under."""
        return tuple(self._lookups()[index])

    def in_order(self, keys: Collection[K]) -> list[K]:
        """`keys` in the dict's own order (where iterating the dict would meet them)."""
        self._lookups()
        if len(keys) * 8 > len(self._data):
            wanted = keys if isinstance(keys, set | frozenset | KeysView) else set(keys)
            return [key for key in self._data if key in wanted]
        filed = self._filed
        return sorted(keys, key=lambda key: filed[key][0])

    def sorted_values(self) -> list[V]:
        """The values by key, kept until the next write."""
        if self._sorted is None:
            self._sorted = [value for _, value in sorted(self._data.items())]
        return self._sorted

    # -- filing -----------------------------------------------------------------------------------

    def _lookups(self) -> dict[str, dict[Hashable, dict[K, None]]]:
        if self._buckets is None:
            # What `_file` does for each object, a column at a time: a whole world's worth is filed here.
            keys = list(self._data)
            columns = [list(map(read, self._data.values())) for read in self._indexes.values()]
            self._buckets = {}
            for name, column in zip(self._indexes, columns, strict=True):
                buckets: dict[Hashable, dict[K, None]] = {}
                for key, under in zip(keys, column, strict=True):
                    bucket = buckets.get(under)
                    if bucket is None:
                        bucket = buckets[under] = {}
                    bucket[key] = None
                self._buckets[name] = buckets
            rows = zip(*columns, strict=True) if columns else repeat((), len(keys))
            self._filed = dict(zip(keys, enumerate(rows), strict=True))
            self._next_position = len(keys)
        return self._buckets

    def _file(self, key: K, value: V, position: int) -> None:
        assert self._buckets is not None
        filed_under = tuple(read(value) for read in self._indexes.values())
        for name, under in zip(self._indexes, filed_under, strict=True):
            self._buckets[name].setdefault(under, {})[key] = None
        self._filed[key] = (position, filed_under)

    def _unfile(self, key: K, filed_under: tuple[Hashable, ...]) -> None:
        assert self._buckets is not None
        for name, under in zip(self._indexes, filed_under, strict=True):
            bucket = self._buckets[name][under]
            del bucket[key]
            if not bucket:
                del self._buckets[name][under]
