"""GraphiQL from LearnGraph's own files: the page a browser gets at GET /graphql, and its assets.

    html = render_page(starter_query=STARTER_QUERY, headers={"Authorization": "Bearer ..."})
    Mount(STATIC_PATH, static_files())          # the assets, served with no credential

The page loads React, ReactDOM, GraphiQL and its explorer plugin from STATIC_PATH (copies of their
npm releases, shipped in the package: static/, README.md beside this file names them), so it works
offline and sends nothing anywhere but this gateway. Subscriptions go over graphql-transport-ws, their
headers in the `connection_init` payload (static/learngraph-graphiql.js).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import orjson
from starlette.staticfiles import StaticFiles

STATIC_PATH = "/graphiql/static"
STATIC_DIRECTORY = Path(__file__).with_name("static")
_PAGE = Path(__file__).with_name("page.html").read_text(encoding="utf-8")
# From the page at <prefix>/graphql to <prefix>/graphiql/static: relative, so a path prefix added by a
# proxy in front holds for the assets too.
_STATIC_FROM_PAGE = STATIC_PATH.lstrip("/")


def render_page(*, starter_query: str, headers: Mapping[str, str]) -> str:
    config = orjson.dumps({"starterQuery": starter_query, "headers": dict(headers)}).decode()
    # Inside <script>: no `<` at all, so nothing in it can close the element ("\u003c" is JSON for it).
    config = config.replace("<", "\\u003c")
    return _PAGE.replace("{static}", _STATIC_FROM_PAGE).replace("{config}", config)


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIRECTORY)


__all__ = ["STATIC_DIRECTORY", "STATIC_PATH", "render_page", "static_files"]
