"""Indexes that cover what a schedule's status is derived from, by account, by username and by status (so
counts read the index alone), and the order pages are read in (so a page of a common status stops after its
rows instead of sorting them all).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = ["terminal", "overdue_from", "scheduled_from", "started"]
ORDER: list[str | sa.TextClause] = [
    sa.text("(due_at IS NULL)"),
    "due_at",
    "source",
    "native_id",
    *STATUS,
    "user_native_id",
    "username",
]


def upgrade() -> None:
    for name in ("ix_schedules_user", "ix_schedules_open_due", "ix_schedules_due"):
        op.drop_index(name, table_name="schedules")
    op.create_index("ix_schedules_user_status", "schedules", ["user_native_id", "source", *STATUS])
    op.create_index("ix_schedules_username_status", "schedules", ["username", "source", *STATUS])
    op.create_index("ix_schedules_status", "schedules", [*STATUS, "source"])
    op.create_index("ix_schedules_order", "schedules", ORDER)
    op.create_index("ix_completions_username", "completions", ["username"])
    op.drop_index("ix_completions_newest", table_name="completions")
    op.create_index(
        "ix_completions_newest", "completions", [sa.text("completed_at DESC"), "source_rank", "native_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_completions_username", table_name="completions")
    op.drop_index("ix_schedules_username_status", table_name="schedules")
    op.create_index("ix_completions_username", "completions", ["username"])
    op.drop_index("ix_completions_newest", table_name="completions")
    op.create_index("ix_completions_newest", "completions", ["completed_at", "source_rank", "native_id"])
    for name in ("ix_schedules_order", "ix_schedules_status", "ix_schedules_user_status"):
        op.drop_index(name, table_name="schedules")
    op.create_index("ix_schedules_due", "schedules", ["due_at"])
    op.create_index("ix_schedules_open_due", "schedules", ["terminal", "overdue_from"])
    op.create_index("ix_schedules_user", "schedules", ["source", "user_native_id"])
