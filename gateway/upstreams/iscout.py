"""ISCOUT: iScout's `completedtrainings.list` (seed 003).

    client = IScoutClient.connect("https://api.iscout.com/v1", secret=SecretStr(token))
    page = await client.list_completions(user_id="5804f0f40ef50473af5870e6", limit=50)
    async for completion in client.iter_completions(training_id=...): ...

Quirks: the token rides inside the JSON body; the one method is a POST that only reads, so it is
sent through the read path (retried, de-duplicated); failures are `{"ok": false, "error": id}`,
on HTTP 200 as often as not; `dateNumber` is YYYYMMDD as an integer and `created` epoch ms.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from gateway.errors import (
    UpstreamError,
    UpstreamForbidden,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.sources import Source
from gateway.upstreams.auth import Auth, BodyAuth
from gateway.upstreams.connector import Connector
from gateway.upstreams.paging import Listing, PageNumberPaging, PageRequest
from gateway.upstreams.paging.drivers import paginate
from gateway.upstreams.records import Record, UpstreamDate, UpstreamDateTime, parse_records

SOURCE = Source.ISCOUT
COMPLETIONS_METHOD = "completedtrainings.list"
MAX_PAGE_SIZE = 1000  # the seed: "Max 1000"; more answers parameter_invalid


class IScoutCompletion(Record):
    user_id: str
    training_id: str
    created: UpstreamDateTime = None  # epoch milliseconds
    completed_on: UpstreamDate = Field(default=None, alias="dateNumber")  # YYYYMMDD integer
    expires_on: UpstreamDate = Field(default=None, alias="specialExpirationDateNumber")  # often absent
    instructor_id: str | None = None
    group_training_id: str | None = Field(default=None, alias="groupTraining_id")


@dataclass
class IScoutPage(Listing[IScoutCompletion]):
    """One page of completions. iScout promises only `paging.last_page`; `total` is set when the
    upstream sends one, or when this is the last page (then it is exact), and is otherwise None
    rather than the `last_page * limit` upper bound."""

    page: int = 1
    last_page: int | None = None


class IScoutAccountInactive(UpstreamUnavailable):
    """`account_inactive`: the source is unavailable to us, but retrying will not change that."""

    retryable: ClassVar[bool] = False


_UNAUTHORIZED = {"token_missing", "token_invalid", "token_inactive"}
_BY_IDENTIFIER: dict[str, type[UpstreamError]] = {
    "token_permission": UpstreamForbidden,
    "account_inactive": IScoutAccountInactive,
    "rate_limit_exceeded": UpstreamRateLimited,
    "content_not_found": UpstreamNotFound,
    "server_error": UpstreamUnavailable,
    "api_method_not_found": UpstreamRejected,
}


def decode_iscout_error(source: Source, response: httpx.Response, body: Any) -> UpstreamError | None:
    """`ok: false` on any status -> the branch its identifier names; `upstream_code` is the identifier."""
    if isinstance(body, dict) and body.get("ok") is False:
        identifier = body.get("error") if isinstance(body.get("error"), str) else None
        cls = _BY_IDENTIFIER.get(identifier or "", UpstreamRejected)  # parameter_*, request_*, unknown
        if identifier in _UNAUTHORIZED:
            # token_invalid's description echoes the token (the seed's own example): never keep it.
            cls, description = UpstreamUnauthorized, "the token was missing, invalid or inactive"
        else:
            description = str(body.get("description") or "no description")
        return cls(
            source.slug,
            f"{source.name} answered {identifier or 'an error'}: {description}",
            status_code=response.status_code,
            upstream_code=identifier,
        )
    if response.status_code >= 400:
        return None  # not iScout's own answer (a proxy's page): http.py maps the status
    # completedtrainings.list is the only method we call: a success must carry its list.
    if (
        not isinstance(body, dict)
        or body.get("ok", True) is not True
        or not isinstance(body.get("completedtrainings"), list)
    ):
        return UpstreamMalformedResponse(
            source.slug, "the answer had neither ok: true nor completedtrainings"
        )
    return None


def _filters(user_id: str | None, training_id: str | None) -> dict[str, Any]:
    filters = {"user_id": user_id, "training_id": training_id}
    return {name: value for name, value in filters.items() if value is not None}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class IScoutClient(Connector):
    """iScout completed trainings, newest first, filtered by user and/or training."""

    source = SOURCE
    decode_error = staticmethod(decode_iscout_error)

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return BodyAuth("token", secret)

    async def list_completions(
        self, *, user_id: str | None = None, training_id: str | None = None, limit: int = 100, page: int = 1
    ) -> IScoutPage:
        request = {**_filters(user_id, training_id), "limit": limit, "page": page}
        body = await self.http.read_json("POST", COMPLETIONS_METHOD, json=request)
        items = parse_records(SOURCE, IScoutCompletion, body["completedtrainings"])
        paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
        total, last_page = _int_or_none(paging.get("total")), _int_or_none(paging.get("last_page"))
        if total is None and last_page is not None and page == last_page:
            total = (page - 1) * limit + len(items)
        return IScoutPage(items, total, page=page, last_page=last_page)

    async def iter_completions(
        self, *, user_id: str | None = None, training_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[IScoutCompletion]:
        request = PageRequest(COMPLETIONS_METHOD, json=_filters(user_id, training_id))
        async for page in paginate(self.http, PageNumberPaging(page_size=page_size), request, method="POST"):
            for completion in parse_records(SOURCE, IScoutCompletion, page.items):
                yield completion
