"""The index's tables (gateway/index/tables.py as first released). Times are naive UTC.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "accounts",
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("employee_number", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("person_key", sa.String(length=300), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "native_id"),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_confirmed_at"), ["confirmed_at"], unique=False)
        batch_op.create_index("ix_accounts_email", ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_accounts_person_key"), ["person_key"], unique=False)
        batch_op.create_index("ix_accounts_source_active", ["source", "active"], unique=False)

    op.create_table(
        "attendance",
        sa.Column("session_native_id", sa.String(length=255), nullable=True),
        sa.Column("user_native_id", sa.String(length=255), nullable=True),
        sa.Column("attended", sa.Boolean(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "native_id"),
    )
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attendance_confirmed_at"), ["confirmed_at"], unique=False)
        batch_op.create_index("ix_attendance_user", ["source", "user_native_id"], unique=False)

    op.create_table(
        "completions",
        sa.Column("user_native_id", sa.String(length=255), nullable=True),
        sa.Column("lesson_native_id", sa.String(length=255), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("source_rank", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "native_id"),
    )
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_completions_confirmed_at"), ["confirmed_at"], unique=False)
        batch_op.create_index(
            "ix_completions_newest", ["completed_at", "source_rank", "native_id"], unique=False
        )
        batch_op.create_index("ix_completions_user", ["source", "user_native_id"], unique=False)

    op.create_table(
        "groups",
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("parent_native_id", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "native_id"),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_confirmed_at"), ["confirmed_at"], unique=False)

    op.create_table(
        "lessons",
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "native_id"),
    )
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lessons_confirmed_at"), ["confirmed_at"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("group_native_id", sa.String(length=255), nullable=False),
        sa.Column("user_native_id", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "native_id"),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_confirmed_at"), ["confirmed_at"], unique=False)
        batch_op.create_index("ix_memberships_group", ["source", "group_native_id", "role"], unique=False)
        batch_op.create_index("ix_memberships_user", ["source", "user_native_id"], unique=False)

    op.create_table(
        "schedules",
        sa.Column("user_native_id", sa.String(length=255), nullable=True),
        sa.Column("lesson_native_id", sa.String(length=255), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("terminal", sa.String(length=20), nullable=True),
        sa.Column("started", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=True),
        sa.Column("scheduled_from", sa.DateTime(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("overdue_from", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "native_id"),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedules_confirmed_at"), ["confirmed_at"], unique=False)
        batch_op.create_index("ix_schedules_due", ["due_at"], unique=False)
        batch_op.create_index("ix_schedules_open_due", ["terminal", "overdue_from"], unique=False)
        batch_op.create_index("ix_schedules_user", ["source", "user_native_id"], unique=False)

    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("last_synced_at", sa.DateTime(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("sync_state")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_schedules_user")
        batch_op.drop_index("ix_schedules_open_due")
        batch_op.drop_index("ix_schedules_due")
        batch_op.drop_index(batch_op.f("ix_schedules_confirmed_at"))

    op.drop_table("schedules")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_user")
        batch_op.drop_index("ix_memberships_group")
        batch_op.drop_index(batch_op.f("ix_memberships_confirmed_at"))

    op.drop_table("memberships")
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lessons_confirmed_at"))

    op.drop_table("lessons")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_confirmed_at"))

    op.drop_table("groups")
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.drop_index("ix_completions_user")
        batch_op.drop_index("ix_completions_newest")
        batch_op.drop_index(batch_op.f("ix_completions_confirmed_at"))

    op.drop_table("completions")
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_index("ix_attendance_user")
        batch_op.drop_index(batch_op.f("ix_attendance_confirmed_at"))

    op.drop_table("attendance")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_source_active")
        batch_op.drop_index(batch_op.f("ix_accounts_person_key"))
        batch_op.drop_index("ix_accounts_email")
        batch_op.drop_index(batch_op.f("ix_accounts_confirmed_at"))

    op.drop_table("accounts")
