"""Alerts and their deliveries: the outbox that sends each transition's alert once.

Revision ID: 0005
Revises: 0003 (the integrator chains it after the history engineer's 0004)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("adw_id", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_alerts"),
    )
    op.create_index("ix_alerts_created_ms", "alerts", ["created_ms"])
    op.create_table(
        "alert_deliveries",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_try_ms", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("key", "target", name="pk_alert_deliveries"),
    )
    op.create_index(
        "ix_alert_deliveries_state_lease_until_ms", "alert_deliveries", ["state", "lease_until_ms"]
    )


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
