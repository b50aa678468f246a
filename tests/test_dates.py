from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.dates import format_damstra_datetime, parse_date, parse_datetime
from gateway.errors import UpstreamMalformedResponse
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraLesson
from gateway.upstreams.records import parse_records


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


@pytest.mark.parametrize(
    "raw",
    [
        "2015-10-29T15:28:59+0000",
        "2016-08-24T15:00:00.000Z",
        "2018-05-19T01:00:06.000+0800",
        "2023-01-05T10:00:00-05:00",
        "2015-10-29T15:28:59",
        "2015-10-29T15:28:59.123456+05:30",
        "2015-10-29T15",
        "2015-10-29T15:28:59+0000x",
        "2015-13-29T15:28:59+0000",
        "1476718840T33",
    ],
)
def test_the_common_shape_reads_as_the_general_path_reads_it(raw: str) -> None:
    # A padded text takes the general path (it strips first); the bare one may take the shortcut.
    def read(text: str) -> datetime | str | None:
        try:
            return parse_datetime(text)
        except ValueError:
            return "refused"

    assert read(raw) == read(f" {raw}\n")
    parsed = read(raw)
    if isinstance(parsed, datetime):
        assert parsed.tzinfo is UTC


def test_a_bad_date_in_a_listing_names_the_field_not_the_position() -> None:
    good = {"lessonId": 1, "lessonVersionId": 10, "createdDate": "2015-10-29T15:28:59+0000"}
    bad = {**good, "createdDate": "yesterday"}
    assert [r.lesson_id for r in parse_records(Source.DAMSTRA, DamstraLesson, [good, good])] == [1, 1]
    with pytest.raises(UpstreamMalformedResponse) as raised:
        parse_records(Source.DAMSTRA, DamstraLesson, [good, bad, good])
    assert raised.value.message.startswith("unreadable DamstraLesson: createdDate: ")
