"""Drop the kind and tool indexes: every insert paid for them, and no query needs them.

A kind or tool filter matches a large share of the events (a handful of kinds, a dozen
tools), so the newest page is found as fast by walking the primary key backwards.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_kind_seq", table_name="events")
    op.drop_index("ix_events_tool_seq", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_kind_seq", "events", ["kind", "seq"])
    op.create_index("ix_events_tool_seq", "events", ["tool", "seq"])
