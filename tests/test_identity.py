from __future__ import annotations

from pathlib import Path

import pytest

from gateway.data.identity import IdentityDirectory, IdentityFileError
from gateway.sources import Source


def test_entries_sharing_an_account_email_or_employee_number_are_one_person() -> None:
    directory = IdentityDirectory(
        [
            {"damstra_user_id": 1, "email": "Ann@Example.com"},
            {"iscout_user_id": "abc", "email": "ann@example.COM"},
            {"training_records_person_api_id": "p-9", "employee_number": "E7"},
            {
                "learninglogin_login_id": 5,
                "learninglogin_username": "ann5",
                "employee_number": "E7",
                "iscout_user_id": "abc",
            },
            {"iscout_user_id": "zzz"},
        ]
    )
    ann = directory.find(Source.DAMSTRA, "1")
    assert ann is not None
    assert ann is directory.find(Source.ISCOUT, "abc") is directory.find(Source.TRAINING_RECORDS, "p-9")
    assert ann is directory.find(Source.LEARNINGLOGIN, "5") is directory.find_by_email("ANN@example.com")
    assert ann.learninglogin_usernames == {"5": "ann5"}
    assert ann.employee_numbers == {"E7"}
    assert len(directory.people) == 2
    assert directory.find(Source.ISCOUT, "zzz") is not ann


def test_a_username_alone_still_names_a_learninglogin_account() -> None:
    directory = IdentityDirectory([{"learninglogin_username": "bob", "email": "b@x.io"}])
    bob = directory.find_by_learninglogin_username("bob")
    assert bob is not None and bob.learninglogin_usernames == {"username:bob": "bob"}


def test_yaml_and_csv_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "people.yaml"
    yaml_file.write_text("people:\n  - damstra_user_id: 1\n    iscout_user_id: a1\n")
    assert IdentityDirectory.load(yaml_file).find(Source.ISCOUT, "a1") is not None
    bare = tmp_path / "bare.yml"
    bare.write_text("- damstra_user_id: 2\n  email: x@y.z\n")
    assert IdentityDirectory.load(bare).find_by_email("X@Y.Z") is not None
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "damstra_user_id,learninglogin_login_id,learninglogin_username,email\n3,8,carl,\n,9,dee,d@e.f\n"
    )
    directory = IdentityDirectory.load(csv_file)
    assert directory.find(Source.LEARNINGLOGIN, "8") is directory.find(Source.DAMSTRA, "3")
    assert directory.find_by_email("d@e.f") is directory.find(Source.LEARNINGLOGIN, "9")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- damstra_userid: 1\n", "unknown keys"),
        ("people: {a: 1}\n", "expected a list"),
        ("- [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_are_explained(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "people.yaml"
    path.write_text(content)
    with pytest.raises(IdentityFileError, match=message):
        IdentityDirectory.load(path)
    with pytest.raises(IdentityFileError, match="cannot read"):
        IdentityDirectory.load(tmp_path / "missing.yaml")
