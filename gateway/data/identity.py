"""Cross-source identity (docs/contract.md §4): which accounts belong to one person.

The identity file (YAML or CSV, one person per entry) names accounts by the keys below.
Entries that share an account, an email (case-insensitive) or an employee number are one
person. DAMSTRA users join a person the same way, by id, email or employee number; that
part needs the DAMSTRA user itself and happens in `gateway.data.people`.

    directory = IdentityDirectory.load(Path("identity.yaml"))
    linked = directory.find(Source.ISCOUT, "5804f0f40ef50473af5870e6")
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.sources import Source

ACCOUNT_KEYS = {
    "damstra_user_id": Source.DAMSTRA,
    "learninglogin_login_id": Source.LEARNINGLOGIN,
    "training_records_person_api_id": Source.TRAINING_RECORDS,
    "iscout_user_id": Source.ISCOUT,
}
# A vendor registered beyond the built-in four links its accounts by `<slug>_user_id`.
ACCOUNT_KEYS.update({f"{s.slug}_user_id": s for s in Source if s not in ACCOUNT_KEYS.values()})
KNOWN_KEYS = {*ACCOUNT_KEYS, "learninglogin_username", "email", "employee_number"}


class IdentityFileError(Exception):
    """The identity file cannot be read; the message says where and why."""


@dataclass
class LinkedAccounts:
    """One person's accounts, emails and employee numbers as the identity file knows them."""

    accounts: dict[Source, list[str]] = field(default_factory=dict)
    learninglogin_usernames: dict[str, str] = field(default_factory=dict)  # login id -> username
    emails: set[str] = field(default_factory=set)  # lower-cased
    employee_numbers: set[str] = field(default_factory=set)

    def ids(self, source: Source) -> list[str]:
        return self.accounts.get(source, [])

    def add(self, source: Source, native_id: str) -> None:
        ids = self.accounts.setdefault(source, [])
        if native_id not in ids:
            ids.append(native_id)

    def merge(self, other: LinkedAccounts) -> None:
        for source, ids in other.accounts.items():
            for native_id in ids:
                self.add(source, native_id)
        self.learninglogin_usernames.update(other.learninglogin_usernames)
        self.emails |= other.emails
        self.employee_numbers |= other.employee_numbers


class IdentityDirectory:
    def __init__(self, entries: Iterable[Mapping[str, Any]] = ()) -> None:
        self.people: list[LinkedAccounts] = []
        # ("account", (source, id)) | ("email", lower) | ("employee", number) | ("username", name) -> person
        self._index: dict[tuple[str, Any], LinkedAccounts] = {}
        for entry in entries:
            self._add(_entry_to_linked(entry))

    @classmethod
    def load(cls, path: Path) -> IdentityDirectory:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise IdentityFileError(f"cannot read the identity file {path}: {exc.strerror}") from None
        entries = _parse_csv(text) if path.suffix.lower() == ".csv" else _parse_yaml(path, text)
        for number, entry in enumerate(entries, 1):
            unknown = set(entry) - KNOWN_KEYS
            if unknown:
                raise IdentityFileError(
                    f"{path}: entry {number} has unknown keys {sorted(unknown)}; known: {sorted(KNOWN_KEYS)}"
                )
        return cls(entries)

    def find(self, source: Source, native_id: str) -> LinkedAccounts | None:
        return self._index.get(("account", (source, native_id)))

    def find_by_email(self, email: str | None) -> LinkedAccounts | None:
        return self._index.get(("email", email.strip().lower())) if email else None

    def find_by_employee_number(self, number: str | None) -> LinkedAccounts | None:
        return self._index.get(("employee", number.strip())) if number and number.strip() else None

    def find_by_learninglogin_username(self, username: str) -> LinkedAccounts | None:
        return self._index.get(("username", username))

    def _add(self, linked: LinkedAccounts) -> None:
        # Every existing person this entry touches becomes one with it.
        touching: list[LinkedAccounts] = []
        for key in _keys(linked):
            found = self._index.get(key)
            if found is not None and all(found is not t for t in touching):
                touching.append(found)
        for other in touching:
            linked.merge(other)
            self.people.remove(other)
        self.people.append(linked)
        for key in _keys(linked):
            self._index[key] = linked


def _keys(linked: LinkedAccounts) -> list[tuple[str, Any]]:
    keys: list[tuple[str, Any]] = [("account", (s, i)) for s, ids in linked.accounts.items() for i in ids]
    keys += [("email", e) for e in linked.emails]
    keys += [("employee", n) for n in linked.employee_numbers]
    keys += [("username", u) for u in linked.learninglogin_usernames.values()]
    return keys


def _entry_to_linked(entry: Mapping[str, Any]) -> LinkedAccounts:
    linked = LinkedAccounts()
    for key, source in ACCOUNT_KEYS.items():
        value = _text(entry.get(key))
        if value:
            linked.add(source, value)
    username = _text(entry.get("learninglogin_username"))
    if username:
        login_id = _text(entry.get("learninglogin_login_id")) or f"username:{username}"
        linked.learninglogin_usernames[login_id] = username
        if not _text(entry.get("learninglogin_login_id")):
            # A username alone still finds the person's train sessions.
            linked.add(Source.LEARNINGLOGIN, login_id)
    email = _text(entry.get("email"))
    if email:
        linked.emails.add(email.lower())
    number = _text(entry.get("employee_number"))
    if number:
        linked.employee_numbers.add(number)
    return linked


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _parse_yaml(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IdentityFileError(f"{path} is not valid YAML: {exc}") from None
    if isinstance(data, dict):
        data = data.get("people", [])
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise IdentityFileError(f"{path}: expected a list of entries (or a mapping with a 'people' list)")
    return data


def _parse_csv(text: str) -> list[dict[str, Any]]:
    return [
        {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
        for row in csv.DictReader(text.splitlines())
    ]
