from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.dates import format_damstra_datetime, parse_date, parse_datetime


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2015-10-29T15:28:59+0000", datetime(2015, 10, 29, 15, 28, 59, tzinfo=UTC)),
        ("2016-08-24T15:00:00.000Z", datetime(2016, 8, 24, 15, 0, tzinfo=UTC)),
        ("2018-05-19T01:00:06.000+0800", datetime(2018, 5, 18, 17, 0, 6, tzinfo=UTC)),
        ("2015-10-29 15:28:59", datetime(2015, 10, 29, 15, 28, 59, tzinfo=UTC)),
        ("2023-01-05T10:00:00-05:00", datetime(2023, 1, 5, 15, 0, tzinfo=UTC)),
        (1476718840233, datetime(2016, 10, 17, 15, 40, 40, 233000, tzinfo=UTC)),
        ("1476718840233", datetime(2016, 10, 17, 15, 40, 40, 233000, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_every_upstream_timestamp_shape_becomes_aware_utc(raw: object, expected: datetime | None) -> None:
    parsed = parse_datetime(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2016-02-06", date(2016, 2, 6)),
        (20190101, date(2019, 1, 1)),
        ("20191231", date(2019, 12, 31)),
        ("2018-05-19T01:00:06.000+0800", date(2018, 5, 18)),
        (None, None),
    ],
)
def test_calendar_dates(raw: object, expected: date | None) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", True, [], "2015-13-45"])
def test_garbage_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_datetime(raw)


def test_damstra_output_shape() -> None:
    assert format_damstra_datetime(datetime(2018, 5, 19, 1, 0, 6, tzinfo=UTC)) == "2018-05-19T01:00:06+0000"
