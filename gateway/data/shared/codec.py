"""JSON for the objects one replica hands another: a mutation's payload, kept as an idempotency key's answer.

    codec = ObjectCodec(modules=("resolvers", "gateway"))
    text = codec.encode(payload)      # str, JSON
    again = codec.decode(text)        # an equal object: same classes, same field values

Not pickle: a stored answer may be read by another version of the gateway during a rolling update.
Objects are written as their class's name and their fields by name, so a field added since is given
its default and a field removed since is ignored; what still does not fit raises `Undecodable`.
Only classes from `modules` are ever built: dataclasses (Strawberry types are), pydantic models
and enums. Anything else is refused when encoding (`TypeError`).
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from datetime import date, datetime
from typing import Any

import orjson
from pydantic import BaseModel

FORMAT = 1


class Undecodable(ValueError):
    """Stored by a version of the gateway whose objects this one cannot rebuild."""


class ObjectCodec:
    def __init__(self, modules: tuple[str, ...]) -> None:
        self._modules = modules

    def encode(self, value: Any) -> str:
        return orjson.dumps({"format": FORMAT, "value": self._encode(value)}).decode()

    def decode(self, text: str) -> Any:
        try:
            stored = orjson.loads(text)
            if stored.get("format") != FORMAT:
                raise Undecodable(f"stored in format {stored.get('format')!r}, this version reads {FORMAT}")
            return self._decode(stored["value"])
        except Undecodable:
            raise
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError, AttributeError) as exc:
            raise Undecodable(str(exc)) from exc

    def _encode(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str) and not isinstance(value, enum.Enum):
            return value
        if isinstance(value, list):
            return [self._encode(item) for item in value]
        if isinstance(value, tuple):
            return {"$tuple": [self._encode(item) for item in value]}
        if isinstance(value, set | frozenset):
            return {"$set": [self._encode(item) for item in value]}
        if isinstance(value, dict):
            return {"$dict": [[self._encode(k), self._encode(v)] for k, v in value.items()]}
        if isinstance(value, enum.Enum):
            return {"$enum": self._name(type(value)), "value": self._encode(value.value)}
        if isinstance(value, datetime):
            return {"$datetime": value.isoformat()}
        if isinstance(value, date):
            return {"$date": value.isoformat()}
        if isinstance(value, BaseModel):
            fields = {name: self._encode(getattr(value, name)) for name in type(value).model_fields}
            encoded = {
                "$model": self._name(type(value)),
                "fields": fields,
                "set": sorted(value.model_fields_set),
            }
            # Private attributes are part of a model's equality and of its meaning (a schedule's
            # read time moves its status on by the clock), so they travel too.
            private = value.__pydantic_private__
            if private:
                encoded["private"] = {name: self._encode(item) for name, item in private.items()}
            return encoded
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            own = vars(value) if hasattr(value, "__dict__") else {}
            fields = {
                f.name: self._encode(getattr(value, f.name))
                for f in dataclasses.fields(value)
                # A field the constructor does not take is data only when the object holds a value for it:
                # a Strawberry field with a resolver is a method of the class.
                if f.init or f.name in own
            }
            return {"$object": self._name(type(value)), "fields": fields}
        raise TypeError(f"cannot store a {type(value).__qualname__} as JSON")

    def _decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._decode(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "$tuple" in value:
            return tuple(self._decode(item) for item in value["$tuple"])
        if "$set" in value:
            return {self._decode(item) for item in value["$set"]}
        if "$dict" in value:
            return {self._decode(k): self._decode(v) for k, v in value["$dict"]}
        if "$enum" in value:
            return self._class(value["$enum"], enum.Enum)(self._decode(value["value"]))
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$date" in value:
            return date.fromisoformat(value["$date"])
        if "$model" in value:
            model = self._class(value["$model"], BaseModel)
            fields = {k: self._decode(v) for k, v in value["fields"].items() if k in model.model_fields}
            built = model.model_construct(set(value["set"]) & set(fields), **fields)
            private = built.__pydantic_private__
            if private is not None:
                for name, item in value.get("private", {}).items():
                    if name in private:
                        private[name] = self._decode(item)
            return built
        if "$object" in value:
            return self._object(self._class(value["$object"], object), value["fields"])
        raise Undecodable(f"unknown tag in {sorted(value)}")

    def _object(self, cls: type, stored: dict[str, Any]) -> Any:
        if not dataclasses.is_dataclass(cls):
            raise Undecodable(f"{cls.__qualname__} is not a dataclass")
        # Built field by field, not through __init__: a field that takes no argument (init=False) is
        # set all the same, and nothing the constructor would compute is computed twice.
        obj = object.__new__(cls)
        for field in dataclasses.fields(cls):
            if field.name in stored:
                value = self._decode(stored[field.name])
            elif not field.init:
                continue
            elif field.default is not dataclasses.MISSING:
                value = field.default
            elif field.default_factory is not dataclasses.MISSING:
                value = field.default_factory()
            else:
                raise Undecodable(f"{cls.__qualname__}.{field.name} was not stored and has no default")
            object.__setattr__(obj, field.name, value)
        return obj

    def _name(self, cls: type) -> str:
        name = f"{cls.__module__}:{cls.__qualname__}"
        self._check_module(cls.__module__, name)
        return name

    def _check_module(self, module: str, name: str) -> None:
        if not any(module == allowed or module.startswith(allowed + ".") for allowed in self._modules):
            raise TypeError(f"{name} is not from {', '.join(self._modules)}")

    def _class(self, name: str, kind: type) -> Any:
        module_name, _, qualname = name.partition(":")
        try:
            self._check_module(module_name, name)
        except TypeError as exc:
            raise Undecodable(str(exc)) from None
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
        if not isinstance(found, type) or not issubclass(found, kind):
            raise Undecodable(f"{name} is not a {kind.__name__}")
        return found
