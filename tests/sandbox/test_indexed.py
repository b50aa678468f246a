"""IndexedDict: every way of writing a dict keeps its lookups equal to a scan of the data."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import pytest

from sandbox.indexed import IndexedDict


@dataclass
class Row:
    owner: str
    kind: int


def table(*rows: tuple[int, Row], built: bool = True) -> IndexedDict[int, Row]:
    found = IndexedDict[int, Row](owner=lambda r: r.owner, kind=lambda r: r.kind)
    for key, row in rows:
        found[key] = row
    if built:
        found.build_lookups()
    return found


def assert_consistent(rows: IndexedDict[int, Row]) -> None:
    """Each lookup answers what a scan of the dict does, in the dict's order."""
    readers: list[tuple[str, Callable[[Row], Hashable]]] = [
        ("owner", lambda r: r.owner),
        ("kind", lambda r: r.kind),
    ]
    for index, read in readers:
        values: set[Hashable] = {read(r) for r in rows.values()}
        assert set(rows.indexed_values(index)) == values
        for value in values | {"nobody", -1}:
            scanned = [k for k, r in rows.items() if read(r) == value]
            assert rows.in_order(rows.keys_where(index, value)) == scanned
    assert rows.sorted_values() == [r for _, r in sorted(rows.items())]


@pytest.mark.parametrize("built", [True, False], ids=["lookups built first", "lookups built after"])
def test_every_kind_of_write_keeps_the_lookups_right(built: bool) -> None:
    rows = table((3, Row("a", 1)), (1, Row("b", 1)), (2, Row("a", 2)), built=built)
    rows[1] = Row("a", 2)  # replaced in place: filed under new values, same place in the order
    assert list(rows) == [3, 1, 2]
    rows[9] = Row("c", 1)
    del rows[3]
    rows[3] = Row("a", 1)  # back, now at the end of the order
    assert rows.pop(2).owner == "a" and rows.pop(42, None) is None
    rows.update({5: Row("b", 3)})
    rows.update([(6, Row("b", 3))])
    assert rows.setdefault(7, Row("d", 4)).owner == "d" and rows.setdefault(7, Row("x", 0)).owner == "d"
    assert rows.popitem()[0] == 7  # last in, first out, as a dict's
    assert list(rows) == [1, 9, 3, 5, 6]
    assert_consistent(rows)
    rows.clear()
    assert_consistent(rows)
    rows[4] = Row("e", 5)
    assert list(rows.keys_where("owner", "e")) == [4]


def test_in_order_follows_the_dict_for_many_keys_and_few() -> None:
    rows = table(*((k, Row("many" if k % 2 else "few", k % 5)) for k in range(200, 0, -1)))
    rows[150] = Row("few", 0)
    del rows[10]
    assert_consistent(rows)
    assert rows.in_order([5, 199, 7]) == [199, 7, 5]  # few keys: by their place in the order


def test_without_indexes_it_still_orders_and_sorts() -> None:
    rows = IndexedDict[int, str]()
    rows.update({3: "c", 1: "a", 2: "b"})
    assert rows.in_order({2, 3}) == [3, 2] and rows.sorted_values() == ["a", "b", "c"]
    rows[0] = "z"
    assert rows.in_order([0, 1]) == [1, 0] and rows.sorted_values() == ["z", "a", "b", "c"]


def test_it_reads_as_the_dict_it_wraps() -> None:
    rows = table((1, Row("a", 1)), (2, Row("b", 2)))
    plain = {1: Row("a", 1), 2: Row("b", 2)}
    assert rows == plain and plain == rows and dict(rows) == plain
    assert rows.get(3) is None and 1 in rows and len(rows) == 2
    assert list(rows.items()) == list(plain.items())
