"""Where each upstream wants its credential: a header, the query string or the JSON body.

    auth = HeaderAuth("AccessKey", key)          # DAMSTRA
    auth.apply(headers, params, body)            # before every request, redirects included

Each style is applied anew to every request `UpstreamHTTP` sends, so a redirect it follows (same
origin only) carries the credential the same way. `credential_fingerprint` names a credential
where it must not appear itself (cache scopes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr


@dataclass(frozen=True)
class HeaderAuth:
    """The credential rides in a header (DAMSTRA `AccessKey`, TRAINING_RECORDS `Authorization`)."""

    header: str
    secret: SecretStr
    scheme: str = ""

    def apply(self, headers: dict[str, str], params: dict[str, Any], body: dict[str, Any] | None) -> None:
        value = self.secret.get_secret_value()
        headers[self.header] = f"{self.scheme} {value}" if self.scheme else value


@dataclass(frozen=True)
class QueryAuth:
    """The credential rides in the query string (LEARNINGLOGIN `token`)."""

    param: str
    secret: SecretStr

    def apply(self, headers: dict[str, str], params: dict[str, Any], body: dict[str, Any] | None) -> None:
        params[self.param] = self.secret.get_secret_value()


@dataclass(frozen=True)
class BodyAuth:
    """The credential rides inside the JSON body (ISCOUT `token`)."""

    field: str
    secret: SecretStr

    def apply(self, headers: dict[str, str], params: dict[str, Any], body: dict[str, Any] | None) -> None:
        if body is not None:
            body[self.field] = self.secret.get_secret_value()


Auth = HeaderAuth | QueryAuth | BodyAuth


def credential_fingerprint(url: str, secret: str) -> str:
    """A short, one-way tag for (upstream, credential): safe to hold in keys and logs."""
    return hashlib.sha256(f"{url}\0{secret}".encode()).hexdigest()[:16]
