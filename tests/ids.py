"""Global IDs as a client holds them: base64 of `Type:source:nativeId`, written out here rather than
by resolvers.global_id, so that the tests check its encoding instead of repeating it.

    gid("User:damstra:7") == user_id("damstra", 7) == "VXNlcjpkYW1zdHJhOjc="
    native_id(group_id(201)) == "201"
"""

from __future__ import annotations

import base64


def gid(text: str) -> str:
    """`gid("Lesson:damstra:5")`; text of any other shape makes the malformed IDs sent on purpose."""
    return base64.b64encode(text.encode()).decode()


def user_id(source: str, native: object) -> str:
    return gid(f"User:{source}:{native}")


def damstra_user_id(native: object) -> str:
    return user_id("damstra", native)


def group_id(native: object) -> str:
    """Groups come from DAMSTRA alone."""
    return gid(f"Group:damstra:{native}")


def native_id(global_id: str) -> str:
    """The native id a global ID carries (everything after its second colon)."""
    return base64.b64decode(global_id).decode().split(":", 2)[2]
