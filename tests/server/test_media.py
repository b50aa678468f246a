"""Which media type an answer takes (GraphQL over HTTP), and which answers are request errors."""

from __future__ import annotations

import pytest

from gateway.server.media import GRAPHQL_RESPONSE_JSON, JSON, is_request_error, negotiate


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("text/html,application/xhtml+xml,*/*;q=0.8", JSON),
        ("text/plain", JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("Application/GraphQL-Response+JSON; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.5, application/json", JSON),
        ("application/graphql-response+json;q=0.5, */*", JSON),
        ("application/graphql-response+json, */*;q=0.1", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0", JSON),
        ("application/graphql-response+json;q=nonsense", JSON),
    ],
)
def test_the_new_media_type_goes_to_a_client_that_prefers_it(accept: str | None, media_type: str) -> None:
    assert negotiate(accept) == media_type


def test_a_request_error_is_an_answer_where_nothing_ran() -> None:
    parse_error = {"message": "Syntax Error", "locations": [{"line": 1, "column": 2}]}
    field_error = {"message": "Invalid ID", "path": ["user"]}
    assert is_request_error({"data": None, "errors": [parse_error]})
    assert is_request_error({"errors": [parse_error]})
    # A field's error, even one that nulled the whole answer, is an answer that ran.
    assert not is_request_error({"data": None, "errors": [field_error]})
    assert not is_request_error({"data": None, "errors": [parse_error, field_error]})
    assert not is_request_error({"data": {"user": None}, "errors": [field_error]})
    assert not is_request_error({"data": {"__typename": "Query"}})
    assert not is_request_error({"data": None})
