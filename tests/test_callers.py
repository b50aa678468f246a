"""Callers, roles and person references: the values the access rules read."""

from __future__ import annotations

import base64

import pytest

from gateway.data.callers import Caller, InvalidPersonRef, PersonRef, PersonRefKind, Role
from gateway.sources import Source


def test_roles_are_ordered_and_the_highest_known_wins() -> None:
    assert Role.TRAINEE < Role.SUPERVISOR < Role.ADMIN
    assert Role.highest(["trainee", "Admin"]) is Role.ADMIN
    assert Role.highest([" supervisor ", "auditor"]) is Role.SUPERVISOR
    assert Role.highest(["auditor", ""]) is Role.TRAINEE
    assert Role.highest([]) is Role.TRAINEE


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        (" Ava.Smith0@Example.COM ", PersonRef(PersonRefKind.EMAIL, email="ava.smith0@example.com")),
        ("damstra:10000", PersonRef(PersonRefKind.ACCOUNT, source=Source.DAMSTRA, native_id="10000")),
        (
            "ISCOUT:5804f0f40ef50473af5870e6",
            PersonRef(PersonRefKind.ACCOUNT, source=Source.ISCOUT, native_id="5804f0f40ef50473af5870e6"),
        ),
        ("learninglogin:a:b", PersonRef(PersonRefKind.ACCOUNT, source=Source.LEARNINGLOGIN, native_id="a:b")),
        (
            base64.b64encode(b"User:learninglogin:502").decode(),
            PersonRef(PersonRefKind.GLOBAL_ID, source=Source.LEARNINGLOGIN, native_id="502"),
        ),
    ],
)
def test_a_person_is_an_email_an_account_or_a_user_id(text: str, ref: PersonRef) -> None:
    assert PersonRef.parse(text) == ref


def test_an_account_and_a_user_id_name_the_same_account() -> None:
    assert PersonRef.parse("VXNlcjpkYW1zdHJhOjEyMzQ1").account == (Source.DAMSTRA, "12345")
    assert PersonRef.parse("damstra:12345").account == (Source.DAMSTRA, "12345")
    assert PersonRef.parse("a@b.c").account is None
    assert str(PersonRef.parse("VXNlcjpkYW1zdHJhOjEyMzQ1")) == "damstra:12345"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nobody",
        "@example.com",
        "ava@",
        "a b@c.d",
        "payroll:12",
        "damstra:",
        base64.b64encode(b"Lesson:damstra:1001").decode(),
        "User:damstra:1",
    ],
)
def test_anything_else_is_no_person(text: str) -> None:
    with pytest.raises(InvalidPersonRef):
        PersonRef.parse(text)


def test_callers_are_values() -> None:
    admin = Caller.anonymous_admin()
    assert admin == Caller("anonymous", Role.ADMIN) and admin.is_admin and admin.person is None
    nobody = Caller.unauthenticated()
    assert nobody.role is Role.TRAINEE and nobody.person is None and not nobody.is_admin
    with pytest.raises(AttributeError):
        admin.role = Role.TRAINEE  # type: ignore[misc]
    assert len({admin, Caller("anonymous", Role.ADMIN)}) == 1
