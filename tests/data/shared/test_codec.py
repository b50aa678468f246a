"""Mutation answers as JSON another replica (maybe another version) can rebuild; never pickle."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import orjson
import pytest

import resolvers.schema  # noqa: F401  (the payload types as the schema has them, resolved)
from gateway.data.identity import LinkedAccounts
from gateway.data.people import Account, Person
from gateway.data.shared.codec import ObjectCodec, Undecodable
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraSchedule, DamstraUser
from resolvers.enums import ScheduleStatus
from resolvers.mutations.scheduling import ScheduleLessonResult, ScheduleLessonsPayload
from resolvers.mutations.user_errors import user_error
from resolvers.mutations.users import CreateUserPayload
from resolvers.schedule import Schedule
from resolvers.user import User

CODEC = ObjectCodec(("resolvers", "gateway"))


def schedule_payload() -> ScheduleLessonsPayload:
    schedule = Schedule(
        id="U2NoZWR1bGU6ZGFtc3RyYToxMjMz",  # type: ignore[arg-type]
        source=Source.DAMSTRA,
        status=ScheduleStatus.SCHEDULED,
        due_date=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        certificate_expires_on=date(2027, 12, 1),
        native_id="1233",
        user_ref=(Source.DAMSTRA, "10003"),
        lesson_ref=(Source.DAMSTRA, "55"),
        lesson_name="Ladder safety",
    )
    return ScheduleLessonsPayload(
        schedules=[schedule],
        results=[ScheduleLessonResult(lesson_id="TGVzc29u", schedule=schedule, user_errors=[])],  # type: ignore[arg-type]
        user_errors=[user_error(["lessonIds", 1], "refused: DAMSTRA: no", "UPSTREAM_REJECTED")],
    )


def user_payload() -> CreateUserPayload:
    damstra = DamstraUser.model_validate(
        {
            "id": 10003,
            "userName": "ann",
            "firstName": "Ann",
            "groups": [201, 202],
            "createdDate": "2026-01-02T03:04:05Z",
        }
    )
    linked = LinkedAccounts(
        accounts={Source.DAMSTRA: ["10003"], Source.ISCOUT: ["5804f0"]},
        emails={"ann@example.com"},
        employee_numbers={"E-1"},
    )
    person = Person(
        [Account(Source.DAMSTRA, "10003", "ann"), Account(Source.ISCOUT, "5804f0")], damstra, linked
    )
    return CreateUserPayload(user=User.from_person(person))


@pytest.mark.parametrize("payload", [schedule_payload(), user_payload(), CreateUserPayload()])
def test_a_payload_comes_back_equal_with_its_private_parts(payload: object) -> None:
    text = CODEC.encode(payload)
    again = CODEC.decode(text)
    assert type(again) is type(payload) and again == payload
    assert CODEC.encode(again) == text


def test_records_keep_which_fields_were_set() -> None:
    user = user_payload().user
    assert user is not None and user.person.damstra is not None
    again = CODEC.decode(CODEC.encode(user))
    assert again.person.damstra.model_fields_set == user.person.damstra.model_fields_set
    assert again.person.linked.emails == {"ann@example.com"}


def test_a_field_added_since_takes_its_default_and_one_removed_since_is_ignored() -> None:
    stored = orjson.loads(CODEC.encode(schedule_payload()))
    fields = stored["value"]["fields"]
    # Written by a version that had no such fields (`warnings` came later)...
    del fields["user_errors"], fields["warnings"]
    fields["notes"] = []  # ... and that has a field this one lacks
    again = CODEC.decode(orjson.dumps(stored).decode())
    assert again.user_errors == [] and again.warnings == [] and not hasattr(again, "notes")
    assert again.schedules == schedule_payload().schedules


def test_a_field_without_a_default_that_was_not_stored_cannot_be_rebuilt() -> None:
    stored = orjson.loads(CODEC.encode(schedule_payload()))
    del stored["value"]["fields"]["schedules"][0]["fields"]["status"]
    with pytest.raises(Undecodable, match="Schedule.status"):
        CODEC.decode(orjson.dumps(stored).decode())


@dataclasses.dataclass
class Elsewhere:
    value: int


def test_only_classes_of_the_named_modules_are_written_or_built() -> None:
    with pytest.raises(TypeError, match="is not from resolvers, gateway"):
        CODEC.encode(Elsewhere(1))
    with pytest.raises(TypeError, match="cannot store"):
        CODEC.encode(object())
    forged = {"format": 1, "value": {"$object": "subprocess:Popen", "fields": {}}}
    with pytest.raises(Undecodable):
        CODEC.decode(orjson.dumps(forged).decode())
    with pytest.raises(Undecodable):
        CODEC.decode('{"format": 2, "value": null}')
    with pytest.raises(Undecodable):
        CODEC.decode("not json")


def test_a_models_private_attributes_travel_with_it() -> None:
    # A schedule's read time moves its status on by the clock; an answer read back must keep it.
    schedule = DamstraSchedule.model_validate({"id": 7, "status": "due", "endDate": "2026-01-01T00:00:00Z"})
    read_at = datetime(2025, 12, 31, tzinfo=UTC)
    schedule._read_at = read_at
    again = CODEC.decode(CODEC.encode(schedule))
    assert again == schedule
    assert again.status_at(datetime(2026, 1, 2, tzinfo=UTC)) == "overdue"
