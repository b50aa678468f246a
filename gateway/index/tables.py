"""The training index's tables (SQLAlchemy 2 declarative), one per kind of upstream object.

Every row holds its `source` and `native_id` (the primary key), `confirmed_at` (when an upstream read
last showed it) and `payload`: the upstream record as JSON, so a read rebuilds the same typed record
the live path holds and the same code turns it into GraphQL objects. The other columns are copies of
the payload's fields that reads filter and sort by (gateway/index/rows.py fills them from records).

Times are stored as naive UTC (`UTCDateTime`): SQLite keeps no offset, and sorting must agree on both.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Dialect, Float, Index, Integer, String, TypeDecorator, text
from sqlalchemy import DateTime as SqlDateTime
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime in, an aware UTC datetime out; stored naive in UTC on every database."""

    impl = SqlDateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the index stores aware datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), date: Date(), dict[str, Any]: JSON()}


class Row:
    """The columns every indexed row has."""

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    native_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    confirmed_at: Mapped[datetime] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]]


class AccountTable(Row, Base):
    """An account in one source: a DAMSTRA user, a LearningLogin login, a person of the others."""

    __tablename__ = "accounts"
    email: Mapped[str | None] = mapped_column(String(320))  # casefolded
    username: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    employee_number: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The person the account belongs to: the key of their primary account ("damstra:12"), when known.
    person_key: Mapped[str | None] = mapped_column(String(300), index=True)
    __table_args__ = (
        Index("ix_accounts_email", "email"),
        Index("ix_accounts_source_active", "source", "active"),
    )


class GroupTable(Row, Base):
    __tablename__ = "groups"
    name: Mapped[str | None] = mapped_column(String(500))
    parent_native_id: Mapped[str | None] = mapped_column(String(255))


class MembershipTable(Row, Base):
    """A user in a group (`role` member) or supervising it (`role` supervisor). native_id is
    "<group>/<user>/<role>"."""

    __tablename__ = "memberships"
    group_native_id: Mapped[str] = mapped_column(String(255))
    user_native_id: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    __table_args__ = (
        Index("ix_memberships_group", "source", "group_native_id", "role"),
        Index("ix_memberships_user", "source", "user_native_id"),
    )


class LessonTable(Row, Base):
    __tablename__ = "lessons"
    name: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(40))


STATUS_COLUMNS = ("terminal", "overdue_from", "scheduled_from", "started")


class ScheduleTable(Row, Base):
    """A schedule (DAMSTRA), train session (LEARNINGLOGIN) or training record (TRAINING_RECORDS).

    The status is not stored: it depends on the time of reading. What it is derived from is:
    `terminal` (completed | cancelled, or null while open), `started`, `scheduled_from` (a start
    still ahead makes it SCHEDULED), `overdue_from` (from then on an open schedule is OVERDUE).
    """

    __tablename__ = "schedules"
    user_native_id: Mapped[str | None] = mapped_column(String(255))
    lesson_native_id: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))  # LEARNINGLOGIN: the login it was read for
    terminal: Mapped[str | None] = mapped_column(String(20))
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_at: Mapped[datetime | None]
    scheduled_from: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    overdue_from: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    passed: Mapped[bool | None] = mapped_column(Boolean)
    # Each covers the columns a status is derived from, so filtering and counting read the index alone.
    __table_args__ = (
        # The schedules of some accounts (a group's, a caller's): the accounts lead.
        Index("ix_schedules_user_status", "user_native_id", "source", *STATUS_COLUMNS),
        # ... or their LEARNINGLOGIN usernames (without it, an audience naming any makes every count a scan).
        Index("ix_schedules_username_status", "username", "source", *STATUS_COLUMNS),
        # Company-wide counts by status.
        Index("ix_schedules_status", *STATUS_COLUMNS, "source"),
        # Company-wide pages in their order (soonest due first, none due last), filtered as walked: a page
        # of a common status (OVERDUE) stops after its few rows instead of sorting every match.
        Index(
            "ix_schedules_order",
            text("(due_at IS NULL)"),
            "due_at",
            "source",
            "native_id",
            *STATUS_COLUMNS,
            "user_native_id",
            "username",
        ),
    )


class CompletionTable(Row, Base):
    __tablename__ = "completions"
    user_native_id: Mapped[str | None] = mapped_column(String(255))
    lesson_native_id: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))  # LEARNINGLOGIN: the login it was read for
    completed_at: Mapped[datetime]
    expires_on: Mapped[date | None]
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    # SOURCE_ORDER's position: the merged order's tie-break (gateway.data.completions.CompletionItem).
    source_rank: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        Index("ix_completions_newest", text("completed_at DESC"), "source_rank", "native_id"),
        Index("ix_completions_user", "source", "user_native_id"),
        Index("ix_completions_username", "username"),
    )


class AttendanceTable(Row, Base):
    """A DAMSTRA ILT session attendee (registration, attendance, pass)."""

    __tablename__ = "attendance"
    session_native_id: Mapped[str | None] = mapped_column(String(255))
    user_native_id: Mapped[str | None] = mapped_column(String(255))
    attended: Mapped[bool | None] = mapped_column(Boolean)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    __table_args__ = (Index("ix_attendance_user", "source", "user_native_id"),)


class SyncStateTable(Base):
    """Where one source's sync stands: its state, a backfill's resumable cursor, when it last synced."""

    __tablename__ = "sync_state"
    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    cursor: Mapped[dict[str, Any]]
    last_synced_at: Mapped[datetime | None]
    rows: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime]


metadata = Base.metadata
