"""Who is calling (contract §8): bearer tokens and API keys to a `gateway.data.callers.Caller`.

jwks.py           the issuer's keys, fetched and kept
tokens.py         a JWT to a caller
api_keys.py       the API keys file, and a presented key to a caller
authenticate.py   the Authenticator: whichever credential a request carries, or none
middleware.py     RequireCaller, the door in front of every HTTP route (401 before a body is read)
websocket.py      subscriptions that end with their token
"""

from gateway.server.auth.authenticate import Authenticator, credentials
from gateway.server.auth.errors import AuthUnavailable, Unauthenticated
from gateway.server.auth.middleware import RequireCaller, caller_of

__all__ = ["AuthUnavailable", "Authenticator", "RequireCaller", "Unauthenticated", "caller_of", "credentials"]
