"""Typed records for upstream entities: the base every vendor's records share.

Vendors send camelCase (DAMSTRA), snake_case (the others), odd date shapes and numbers as
strings; records absorb that once so nothing above the connectors sees a raw dict.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Annotated, Any, TypeVar, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from gateway.dates import parse_date, parse_datetime
from gateway.errors import UpstreamMalformedResponse
from gateway.sources import Source

UpstreamDateTime = Annotated[datetime | None, BeforeValidator(parse_datetime)]
"""Any upstream timestamp shape, as an aware UTC datetime."""
UpstreamDate = Annotated[date | None, BeforeValidator(parse_date)]
"""Any upstream calendar date shape."""


def _lenient_float(value: Any) -> Any:
    # LearningLogin sends `time_spent` as 12.5, "0.0" or null.
    if isinstance(value, str):
        text = value.strip()
        return float(text) if text else None
    return value


LenientFloat = Annotated[float | None, BeforeValidator(_lenient_float)]


class Record(BaseModel):
    """snake_case record read from snake_case JSON; unknown upstream fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class CamelRecord(Record):
    """A record read from camelCase JSON (DAMSTRA)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, alias_generator=to_camel)


R = TypeVar("R", bound=BaseModel)


def parse_record(source: Source, model: type[R], data: Any) -> R:
    """One record, or UpstreamMalformedResponse naming what did not fit (never the data itself)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UpstreamMalformedResponse(source.slug, _describe(model, exc)) from None


def parse_records(source: Source, model: type[R], data: Any) -> list[R]:
    if not isinstance(data, list):
        raise UpstreamMalformedResponse(source.slug, f"expected a list of {model.__name__}")
    try:
        # One call for the whole list: a big listing costs a fifth less than record by record.
        return cast("list[R]", _list_of(model).validate_python(data))
    except ValidationError:
        # Read again one by one, so the error names the first record that did not fit as it always has.
        return [parse_record(source, model, item) for item in data]


@functools.cache
def _list_of(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _describe(model: type[BaseModel], exc: ValidationError) -> str:
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"unreadable {model.__name__}: {where}: {first['msg']}"
