"""DAMSTRA's records and write inputs: what the rest of the gateway reads and sends, with no connector.

DAMSTRA sends camelCase; ids of groups and roles arrive as objects or plain ids; ILT states as
names or numbers. The records absorb that here once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    field_serializer,
)
from pydantic.alias_generators import to_camel

from gateway.dates import format_damstra_datetime
from gateway.native_ids import numeric_id
from gateway.upstreams.records import CamelRecord, LenientFloat, UpstreamDateTime

STATUS_NOT_CURRENT = 57  # clientStatusId of a trainee no longer in the organisation
ALREADY_SCHEDULED = "ALREADY_SCHEDULED"
SCHEDULE_WORDS = frozenset({"scheduled", "due", "overdue", "completed", "cancelled"})
"""The `upstream_code` of the refusal DAMSTRA answers when a lesson is scheduled to a user twice."""


def _ids(value: Any) -> Any:
    # Users carry `groups: [{"id": 1}]`; some answers (and the getting-started sample's `roles`)
    # hold plain ids or objects; null means none.
    if value is None:
        return []
    if isinstance(value, list):
        return [item.get("id") if isinstance(item, dict) else item for item in value]
    return value


IdList = Annotated[list[int], BeforeValidator(_ids)]


def _list(value: Any) -> Any:
    # Arrays the API document leaves untyped (`questionResults`, custom fields): null or a non-list is none.
    return value if isinstance(value, list) else []


def _optional_int(value: Any) -> Any:
    # Counts and type ids arrive as numbers, numeric strings ("8") or null; anything else reads as unknown.
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return int(value) if value.strip().lstrip("-").isdigit() else None
    if isinstance(value, float):
        return int(value)
    return value if isinstance(value, int) else None


def _optional_bool(value: Any) -> Any:
    return value if isinstance(value, bool) else None


def _text_or_none(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value or None
    return str(value)


LenientInt = Annotated[int | None, BeforeValidator(_optional_int)]
LenientBool = Annotated[bool | None, BeforeValidator(_optional_bool)]
LenientText = Annotated[str | None, BeforeValidator(_text_or_none)]

_ILT_STATES = {1: "upcoming", 2: "inprogress", 3: "past"}


def _ilt_state(value: Any) -> Any:
    # `GET /ilt_session/{id}` names the state ("past"); list filters use its id (1, 2, 3).
    if isinstance(value, int) and not isinstance(value, bool):
        return _ILT_STATES.get(value, str(value))
    return value


class DamstraUser(CamelRecord):
    id: int
    user_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    mobile_number: str | None = None
    employee_number: str | None = None
    client_status_id: int | None = None
    active: bool | None = None
    group_ids: IdList = Field(default_factory=list, alias="groups")
    supervised_group_ids: IdList = Field(default_factory=list, alias="groupsSupervised")
    roles: IdList = Field(default_factory=list)
    time_zone: str | None = None
    client_id: int | None = None
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None
    last_logged_in_date: UpstreamDateTime = None

    @property
    def is_active(self) -> bool:
        return self.client_status_id != STATUS_NOT_CURRENT and self.active is not False


class DamstraGroup(CamelRecord):
    id: int
    name: str
    parent_id: int | None = None
    description: str | None = None
    member_count: int | None = None
    created_date: UpstreamDateTime = None
    client_id: int | None = None


class DamstraCustomField(CamelRecord):
    """An item of a lesson's `lessonVersionCustomFields`: the field's description names it."""

    custom_field_id: LenientInt = None
    field_id: LenientText = None  # "customField1"
    custom_field_description: LenientText = None
    type: LenientText = None  # "string"
    value: LenientText = None

    @property
    def name(self) -> str:
        return self.custom_field_description or self.field_id or f"customField{self.custom_field_id or ''}"


class DamstraLesson(CamelRecord):
    """An item of `GET /lesson` or of `GET /lessondetails` (the same lesson, with what each list adds)."""

    lesson_id: int
    lesson_version_id: int
    name: str | None = None
    duration: LenientFloat = None  # milliseconds
    status: str | None = None  # active | inactive | never | rendering | error
    version: int | None = None
    in_library: LenientBool = None
    questionnaire_type: LenientInt = None
    published: LenientInt = None
    client_id: int | None = None
    # None: the list answered without the key (the details list's sample has none).
    lesson_version_custom_fields: list[DamstraCustomField] | None = None
    # The questionnaire data of the details list, named as the lesson schedule names them.
    question_count: LenientInt = None
    questionnaire_pass_rate: LenientFloat = Field(
        default=None, validation_alias=AliasChoices("questionnairePassRate", "passRate")
    )
    lesson_thumbnail: LenientText = Field(
        default=None, validation_alias=AliasChoices("lessonThumbnail", "thumbnailUrl", "thumbnail")
    )
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


class DamstraSchedule(CamelRecord):
    id: int
    user_id: int | None = None
    lesson_id: int | None = None
    lesson_version_id: int | None = None
    version: int | None = None
    lesson_name: str | None = None
    start_date: UpstreamDateTime = None
    end_date: UpstreamDateTime = None
    lesson_started_date: UpstreamDateTime = None
    lesson_completed_date: UpstreamDateTime = None
    lesson_completed_by: int | None = None
    lesson_completed_by_name: str | None = None
    status: str | None = None  # scheduled | due | overdue | completed | cancelled
    status_id: int | None = None
    schedule_type: str | None = None
    progress: LenientFloat = None  # milliseconds watched
    lesson_duration: LenientFloat = None  # milliseconds
    active: bool | None = None
    user_first_name: str | None = None
    user_last_name: str | None = None
    user_user_name: str | None = None
    user_employee_number: str | None = None
    questionnaire_pass_rate: LenientFloat = None  # the minimum score (percent) that passes
    questionnaire_type: LenientInt = None
    question_count: LenientInt = None
    question_results: Annotated[list[Any], BeforeValidator(_list)] = Field(default_factory=list)
    completion_type_id: LenientInt = None
    type_id: LenientInt = None
    lesson_thumbnail: LenientText = None
    passed: LenientBool = None  # not in the API document: read only if an answer carries it
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None

    # When this answer was read (parsed): the moment its `status` word was true.
    _read_at: datetime = PrivateAttr(default_factory=lambda: datetime.now(UTC))

    def __eq__(self, other: object) -> bool:
        # The same answer read at another moment is the same schedule: the read time is not its data.
        if not isinstance(other, DamstraSchedule):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def read_at(self, moment: datetime) -> DamstraSchedule:
        """This answer, as read at `moment` (an indexed one: when an upstream read last confirmed it)."""
        self._read_at = moment
        return self

    def status_at(self, now: datetime) -> str | None:
        """DAMSTRA's status word as of `now`. A list read a while ago (a cached one) is moved on by what
        its dates say happened since it was read, so it never shows a schedule `due` after its end date
        has passed: DAMSTRA's word stands for the moment of the read, and time only moves a schedule
        forward (scheduled, due, overdue: not started past its end date). The single-schedule answer
        carries no word: the whole status from the dates."""
        word = self.status.lower() if self.status else None
        if word not in SCHEDULE_WORDS:
            return self._dated_status(now)
        if word != "scheduled" and word != "due":
            return word  # the others stand for good (and `_read_at`, a private attribute, is slow to read)
        since = self._read_at
        if word == "scheduled" and self.start_date is not None and since < self.start_date <= now:
            word = "due"
        if (
            word == "due"
            and self.lesson_started_date is None
            and self.end_date is not None
            and since <= self.end_date < now
        ):
            word = "overdue"
        return word

    def _dated_status(self, now: datetime) -> str:
        if self.lesson_completed_date is not None:
            return "completed"
        if self.active is False:
            return "cancelled"
        if self.start_date is not None and self.start_date > now:
            return "scheduled"
        if self.end_date is not None and self.end_date < now:
            return "overdue"
        return "due"

    @property
    def completed(self) -> bool:
        if self.status:
            return self.status.lower() == "completed"
        return self.lesson_completed_date is not None

    @property
    def has_passed(self) -> bool | None:
        """Whether the trainee passed: None while not completed, or when the answer cannot tell.

        The API document names no pass flag on a schedule; it gives the questionnaire's size
        (`questionCount`), its pass mark (`questionnairePassRate`) and the answers
        (`questionResults`, items with a `correct` flag). A completed lesson with no questions has
        nothing to fail. The list items carry no `questionResults`: their verdict needs the schedule
        read by its id (`needs_detail_for_passed`).
        """
        if not self.completed:
            return None
        if self.passed is not None:
            return self.passed
        if self.question_count == 0:
            return True
        marks = [_correct(item) for item in self.question_results]
        known = [mark for mark in marks if mark is not None]
        if not known or self.questionnaire_pass_rate is None:
            return None
        total = self.question_count or len(marks)
        return 100 * sum(known) / total >= self.questionnaire_pass_rate

    @property
    def needs_detail_for_passed(self) -> bool:
        return self.completed and self.has_passed is None


def _correct(item: Any) -> bool | None:
    # A question result's verdict, under the names such a flag goes by.
    if isinstance(item, dict):
        for key in ("correct", "isCorrect", "passed", "answeredCorrectly"):
            if isinstance(item.get(key), bool):
                return bool(item[key])
    return None


class DamstraILTSession(CamelRecord):
    id: int
    status_id: int | None = None  # 1 active, 2 completed, 3 cancelled
    instructor_id: int | None = None
    instructor_first_name: str | None = None
    instructor_last_name: str | None = None
    lesson_id: int | None = None
    lesson_name: str | None = None
    notes: str | None = None
    number_of_places: int | None = None
    number_of_attendees: int | None = None
    start_datetime: UpstreamDateTime = None
    end_datetime: UpstreamDateTime = None
    location: str | None = None
    state: Annotated[str | None, BeforeValidator(_ilt_state)] = None  # upcoming | inprogress | past
    attendance_rate: LenientFloat = None
    pass_rate: LenientFloat = None
    ilt_session_cancellation_trainee_notification_enabled: bool | None = None
    ilt_session_cancellation_instructor_notification_enabled: bool | None = None
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


class DamstraAttendee(CamelRecord):
    id: int
    user_id: int | None = None
    session_id: int | None = None
    lesson_schedule_id: int | None = None
    user_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    registering_user_id: int | None = None
    passed: bool | None = None
    attended: bool | None = None
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


class DamstraCreated(CamelRecord):
    id: int
    created_date: UpstreamDateTime = None
    modified_date: UpstreamDateTime = None


# -- write inputs -------------------------------------------------------------------------------

DamstraDateTimeOut = Annotated[datetime, PlainSerializer(format_damstra_datetime, return_type=str)]
ExpiresIn = Literal["disabled", "never", "day", "week", "month", "year"]
MergeType = Literal["none", "empNo", "email", "userName"]
GracePeriodUnit = Literal["days", "months"]
ScheduleStatusFilter = Literal["all", "scheduled", "due", "overdue", "completed", "cancelled"]
ActiveValue = Literal["active", "inactive", "all"]
UpdateUserMethod = Literal["POST", "PUT"]  # the document gives Update User no verb (client.update_user)


class _WriteInput(BaseModel):
    """A request body: snake_case in Python, camelCase on the wire; unset fields are not sent."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _id_objects(ids: list[int] | None) -> list[dict[str, int]] | None:
    return None if ids is None else [{"id": int(numeric_id(i, "DAMSTRA group id"))} for i in ids]


class DamstraUserInput(_WriteInput):
    """Fields of `POST /user`, `PUT /user/{id}` and `POST /bulkUserImport`."""

    user_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    mobile_number: str | None = None
    employee_number: str | None = None
    send_welcome_email: bool | None = None
    password: SecretStr | None = None
    roles: list[int] | None = None
    group_ids: list[int] | None = Field(default=None, serialization_alias="groups")
    supervised_group_ids: list[int] | None = Field(default=None, serialization_alias="groupsSupervised")
    time_zone: str | None = None

    @field_serializer("password")
    def _reveal(self, value: SecretStr | None) -> str | None:
        return None if value is None else value.get_secret_value()

    @field_serializer("group_ids", "supervised_group_ids")
    def _as_objects(self, value: list[int] | None) -> list[dict[str, int]] | None:
        return _id_objects(value)


class DamstraILTSessionInput(_WriteInput):
    """Fields of `POST /ilt_session` (lesson, times and location required by DAMSTRA) and
    `PATCH /ilt_session/{id}` (any subset)."""

    lesson_id: int | None = None
    start_datetime: DamstraDateTimeOut | None = None
    end_datetime: DamstraDateTimeOut | None = None
    location: str | None = None
    instructor_id: int | None = None
    status_id: int | None = None
    notes: str | None = None
    number_of_places: int | None = None
