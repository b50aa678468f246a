"""Service API keys (`X-API-Key`), listed by their SHA-256 in the YAML file LEARNGRAPH_API_KEYS_FILE names.

    keys:
      - {name: compliance-dashboard, sha256: "<64 hex digits>", role: ADMIN}
      - {name: site-kiosk, sha256: "...", role: TRAINEE, person: ava.smith0@example.com}

    api_keys = ApiKeys.load(Path("keys.yaml"))   # ConfigError "keys.yaml:5: ..." naming the line at fault
    caller = api_keys.caller(presented)          # None for a key that is not listed

The file holds no key, only the lower-case hex SHA-256 of each key's UTF-8 bytes
(`printf %s "$KEY" | sha256sum`). `person` (an email, a User ID or `<source>:<native id>`) is
required unless the role is ADMIN.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from gateway.data.callers import Caller, InvalidPersonRef, PersonRef, Role
from gateway.settings import ConfigError

FIELDS = ("name", "sha256", "role", "person")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: bytes  # the digest itself, 32 bytes
    role: Role
    person: PersonRef | None = None


class ApiKeys:
    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self.keys = tuple(keys)
        # Each key's caller, made once (a Caller is immutable): a request finds it, never builds it.
        self._callers = {
            id(key): Caller(name=key.name, role=key.role, person=key.person) for key in self.keys
        }

    @classmethod
    def load(cls, path: Path) -> ApiKeys:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"LEARNGRAPH_API_KEYS_FILE names {path}, which does not exist") from None
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"{path}: cannot be read: {exc}") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, origin: str = "API keys file") -> ApiKeys:
        return cls(_Parser(origin).keys(text))

    def caller(self, presented: str) -> Caller | None:
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found: ApiKey | None = None
        for key in self.keys:
            # Every listed key is compared, each in constant time: the answer's timing tells nothing.
            if hmac.compare_digest(digest, key.sha256):
                found = key
        if found is None:
            return None
        return self._callers[id(found)]

    def __len__(self) -> int:
        return len(self.keys)


class _Parser:
    """The file through PyYAML's node tree, which knows the line of every value."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, node: yaml.Node | None, message: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else 1
        return ConfigError(f"{self.origin}:{line}: {message}")

    def keys(self, text: str) -> list[ApiKey]:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise ConfigError(f"{self.origin}:{line}: not valid YAML: {exc.problem or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{self.origin}: not valid YAML: {exc}") from None
        if not isinstance(root, yaml.MappingNode):
            raise self.fail(root, "expected `keys:` and a list of {name, sha256, role, person}")
        top = self.mapping(root, ("keys",))
        listed = top.get("keys")
        if listed is None:
            raise self.fail(root, "expected `keys:` and a list of {name, sha256, role, person}")
        if isinstance(listed, yaml.ScalarNode) and listed.tag.endswith(":null"):
            return []
        if not isinstance(listed, yaml.SequenceNode):
            raise self.fail(listed, "`keys` must be a list of {name, sha256, role, person}")
        keys: list[ApiKey] = []
        names: set[str] = set()
        digests: set[bytes] = set()
        for entry in listed.value:
            key = self.key(entry)
            if key.name in names:
                raise self.fail(entry, f"a second key named {key.name!r}")
            if key.sha256 in digests:
                raise self.fail(entry, f"key {key.name!r} has the same sha256 as an earlier key")
            names.add(key.name)
            digests.add(key.sha256)
            keys.append(key)
        return keys

    def key(self, entry: yaml.Node) -> ApiKey:
        if not isinstance(entry, yaml.MappingNode):
            raise self.fail(entry, "each key is a mapping of name, sha256, role and (unless ADMIN) person")
        fields = self.mapping(entry, FIELDS)
        for required in ("name", "sha256", "role"):
            if required not in fields:
                raise self.fail(entry, f"this key has no {required!r}")
        name = self.text(fields["name"], "name")
        digest = self.text(fields["sha256"], "sha256").lower()
        if not _HEX_SHA256.fullmatch(digest):
            raise self.fail(
                fields["sha256"],
                f"the sha256 of {name!r} is not 64 hex digits (the key's SHA-256, not the key)",
            )
        role_name = self.text(fields["role"], "role").upper()
        if role_name not in Role.__members__:
            raise self.fail(fields["role"], f"role {role_name!r} is not one of {', '.join(Role.__members__)}")
        role = Role[role_name]
        person: PersonRef | None = None
        if "person" in fields:
            try:
                person = PersonRef.parse(self.text(fields["person"], "person"))
            except InvalidPersonRef as exc:
                raise self.fail(fields["person"], str(exc)) from None
        elif role is not Role.ADMIN:
            raise self.fail(
                entry, f"key {name!r} has role {role.name} but no 'person' (required unless ADMIN)"
            )
        return ApiKey(name, bytes.fromhex(digest), role, person)

    def mapping(self, node: yaml.MappingNode, allowed: Sequence[str]) -> dict[str, yaml.Node]:
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or key not in allowed:
                raise self.fail(key_node, f"unknown field {key!r}; expected {', '.join(allowed)}")
            if key in fields:
                raise self.fail(key_node, f"{key!r} is given twice")
            fields[key] = value_node
        return fields

    def text(self, node: yaml.Node, field: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            raise self.fail(node, f"{field!r} must be a non-empty text")
        return str(node.value).strip()
