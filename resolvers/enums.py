"""The enums of docs/contract.md §6."""

from __future__ import annotations

import enum

import strawberry

from gateway.sources import Source

# The data layer's Source, registered in place as the schema's `Source` enum; resolvers import it from
# gateway.sources like every other layer.
strawberry.enum(Source, name="Source", description="The upstream system a record comes from.")


@strawberry.enum
class Role(enum.Enum):
    ADMIN = "ADMIN"
    EDITOR = "EDITOR"
    SUPERVISOR = "SUPERVISOR"
    TRAINEE = "TRAINEE"
    OWNER = "OWNER"
    INSTRUCTOR = "INSTRUCTOR"


# DAMSTRA role ids (DAMSTRA's API document, "Roles").
DAMSTRA_ROLES = {
    3: Role.ADMIN,
    4: Role.EDITOR,
    5: Role.SUPERVISOR,
    6: Role.TRAINEE,
    7: Role.OWNER,
    8: Role.INSTRUCTOR,
}
DAMSTRA_ROLE_IDS = {role: role_id for role_id, role in DAMSTRA_ROLES.items()}


@strawberry.enum
class ScheduleStatus(enum.Enum):
    ASSIGNED = "ASSIGNED"
    SCHEDULED = "SCHEDULED"
    DUE = "DUE"
    OVERDUE = "OVERDUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"

    __hash__ = object.__hash__  # as `Source`'s: by identity, in C (filtered by status per schedule)


@strawberry.enum
class LessonStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    NEVER_PUBLISHED = "NEVER_PUBLISHED"
    RENDERING = "RENDERING"
    ERROR = "ERROR"


# DAMSTRA's lesson `status` / `publishedStates` words.
DAMSTRA_LESSON_STATUS = {
    "active": LessonStatus.ACTIVE,
    "inactive": LessonStatus.INACTIVE,
    "never": LessonStatus.NEVER_PUBLISHED,
    "rendering": LessonStatus.RENDERING,
    "error": LessonStatus.ERROR,
}


@strawberry.enum
class ILTSessionState(enum.Enum):
    UPCOMING = "UPCOMING"
    IN_PROGRESS = "IN_PROGRESS"
    PAST = "PAST"


@strawberry.enum
class ILTSessionStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


# DAMSTRA ILT ids (DAMSTRA's API document, "ILT Session").
ILT_STATE_IDS = {ILTSessionState.UPCOMING: 1, ILTSessionState.IN_PROGRESS: 2, ILTSessionState.PAST: 3}
ILT_STATUS_IDS = {ILTSessionStatus.ACTIVE: 1, ILTSessionStatus.COMPLETED: 2, ILTSessionStatus.CANCELLED: 3}
