"""Strawberry's name converter, remembering what it converted.

Strawberry converts each argument's Python name to its GraphQL name on every call of a resolver
(`convert_arguments`): `to_camel_case` per argument per call, a few microseconds each, 13 times per
member of a dashboard's `schedules(...)`. The names a schema has are few; each is converted once.
"""

from __future__ import annotations

from strawberry.schema.name_converter import NameConverter


class RememberingNameConverter(NameConverter):
    def __init__(self, auto_camel_case: bool = True) -> None:
        super().__init__(auto_camel_case)
        self._converted: dict[tuple[bool, str], str] = {}

    def apply_naming_config(self, name: str) -> str:
        key = (self.auto_camel_case, name)
        converted = self._converted.get(key)
        if converted is None:
            converted = self._converted[key] = super().apply_naming_config(name)
        return converted
