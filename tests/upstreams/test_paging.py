"""The paging styles as pure state machines over hand-built responses."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.upstreams.paging import (
    LimitOffsetPaging,
    LinkHeaderPaging,
    PageNumberPaging,
    PageRequest,
    PositionalPaging,
    StartIndexPaging,
)


def response(
    body: Any = None, headers: dict[str, str] | None = None, url: str = "http://up.test/x"
) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers, request=httpx.Request("GET", url))


def test_start_index_follows_meta_even_when_pages_come_back_short() -> None:
    paging = StartIndexPaging(page_size=10)
    first = paging.first(PageRequest("/user", {"q": "a"}))
    assert first.params == {"startIndex": 0, "maxResults": 10, "q": "a"}
    short = {"results": [{}] * 4, "meta": {"totalResultCount": 12, "startIndex": 0, "endIndex": 4}}
    following = paging.advance(first, response(short), short)
    assert following is not None and following.params["startIndex"] == 4
    last = {"results": [{}] * 8, "meta": {"totalResultCount": 12, "startIndex": 4, "endIndex": 12}}
    assert paging.advance(following, response(last), last) is None
    assert paging.total(response(last), last) == 12


def test_start_index_without_meta_stops_on_a_short_page() -> None:
    paging = StartIndexPaging(page_size=3)
    first = paging.first(PageRequest("/user/1/lesson_schedule"))
    full: dict[str, Any] = {"results": [{}, {}, {}]}
    following = paging.advance(first, response(full), full)
    assert following is not None and following.params["startIndex"] == 3
    short: dict[str, Any] = {"results": [{}]}
    assert paging.advance(following, response(short), short) is None
    assert paging.advance(first, response({"results": []}), {"results": []}) is None


def test_link_header_follows_next_and_reads_total() -> None:
    paging = LinkHeaderPaging()
    first = paging.first(PageRequest("/train_sessions", {"score_eq": "80"}))
    headers = {
        "Link": '<http://up.test/api/train_sessions.json?page=1>; rel="first", '
        '<http://up.test/api/train_sessions.json?page=3&score_eq=80>; rel="next", '
        '<http://up.test/api/train_sessions.json?page=24>; rel="last"',
        "Total": "1535",
        "Per-Page": "64",
    }
    body = [{"id": 1}]
    following = paging.advance(first, response(body, headers), body)
    assert following == PageRequest("http://up.test/api/train_sessions.json?page=3&score_eq=80")
    assert paging.total(response(body, headers), body) == 1535
    assert paging.advance(first, response(body, {"Total": "1"}), body) is None
    assert paging.first(PageRequest("/t")).params == {}
    assert LinkHeaderPaging(start_page=3).first(PageRequest("/t")).params == {"page": 3}


def test_limit_offset_reads_both_body_forms() -> None:
    paging = LimitOffsetPaging(page_size=2)
    first = paging.first(PageRequest("/training/record/"))
    assert first.params == {"limit": 2, "offset": 0}
    wrapped = {
        "count": 3,
        "next": "http://up.test/training/record/?limit=2&offset=2",
        "previous": None,
        "results": [{}, {}],
    }
    following = paging.advance(first, response(wrapped), wrapped)
    assert following is not None and following.params["offset"] == 2
    assert paging.total(response(wrapped), wrapped) == 3
    end: dict[str, Any] = {"count": 3, "next": None, "previous": "x", "results": [{}]}
    assert paging.advance(following, response(end), end) is None
    bare: list[dict[str, Any]] = [{}, {}]
    assert paging.items(bare) == bare
    assert paging.advance(first, response(bare), bare) is not None
    assert paging.advance(first, response([{}]), [{}]) is None


def test_page_number_stops_at_last_page() -> None:
    paging = PageNumberPaging(page_size=2)
    first = paging.first(PageRequest("/completedtrainings.list", json={"user_id": "u"}))
    assert first.json == {"limit": 2, "page": 1, "user_id": "u"}
    body = {"ok": True, "completedtrainings": [{}, {}], "paging": {"last_page": 2}}
    following = paging.advance(first, response(body), body)
    assert following is not None and following.json is not None and following.json["page"] == 2
    assert paging.advance(following, response(body), body) is None
    empty = {"ok": True, "completedtrainings": []}
    assert paging.advance(first, response(empty), empty) is None


def test_positional_styles_ask_for_any_page_by_position() -> None:
    start_index = StartIndexPaging(page_size=10)
    first = start_index.first(PageRequest("/user", {"q": "a"}))
    assert start_index.position(first) == 0
    moved = start_index.at(first, 40, 7)
    assert moved.params == {"startIndex": 40, "maxResults": 7, "q": "a"} and start_index.position(moved) == 40
    limit_offset = LimitOffsetPaging(page_size=100, offset=5)
    first = limit_offset.first(PageRequest("/training/record/", {"search": "x"}))
    assert limit_offset.position(first) == 5
    moved = limit_offset.at(first, 300, 100)
    assert (
        moved.params == {"limit": 100, "offset": 300, "search": "x"} and limit_offset.position(moved) == 300
    )
    # Links and page numbers are followed as the upstream hands them out.
    assert isinstance(start_index, PositionalPaging) and isinstance(limit_offset, PositionalPaging)
    assert not isinstance(LinkHeaderPaging(), PositionalPaging)
    assert not isinstance(PageNumberPaging(), PositionalPaging)
