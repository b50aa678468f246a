from __future__ import annotations

import pytest

from gateway.errors import InvalidNativeId
from gateway.native_ids import numeric_id, opaque_id


@pytest.mark.parametrize("good", ["1", "12345", 42])
def test_numeric_ids(good: str | int) -> None:
    assert numeric_id(good) == str(good)


@pytest.mark.parametrize(
    "bad", ["", "-1", "1.5", "../1", "1/2", "1?a=b", "1#x", "%2e%2e", " 1", "1" * 19, "１"]
)
def test_numeric_ids_refuse_anything_that_could_steer_a_url(bad: str) -> None:
    with pytest.raises(InvalidNativeId):
        numeric_id(bad)


@pytest.mark.parametrize("good", ["rec-00001", "5804f0f40ef50473af5870e6", "WHMIS", "a.b", "PKG_1"])
def test_opaque_ids(good: str) -> None:
    assert opaque_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "../x", "a/b", "a?b", "a#b", "a%2Fb", "a..b", ".a", "a b", "a\\b"]
)
def test_opaque_ids_refuse_path_tricks(bad: str) -> None:
    with pytest.raises(InvalidNativeId):
        opaque_id(bad)
