"""Run history: runs, their phases and agents, a daily rollup, and the activity tally.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("adw_id", sa.String(), nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(), nullable=True),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("issue_class", sa.String(), nullable=True),
        sa.Column("model_set", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.BigInteger(), nullable=True),
        sa.Column("tokens_out", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("adw_id", name="pk_runs"),
    )
    op.create_index("ix_runs_first_seen_ms_adw_id", "runs", ["first_seen_ms", "adw_id"])
    op.create_index("ix_runs_duration_ms_adw_id", "runs", ["duration_ms", "adw_id"])
    op.create_index("ix_runs_cost_usd_adw_id", "runs", ["cost_usd", "adw_id"])
    op.create_table(
        "run_phases",
        sa.Column("adw_id", sa.String(), nullable=False),
        sa.Column("phase", sa.String(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("adw_id", "phase", name="pk_run_phases"),
    )
    op.create_table(
        "run_agents",
        sa.Column("adw_id", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=False),
        sa.Column("num_turns", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.BigInteger(), nullable=True),
        sa.Column("tokens_out", sa.BigInteger(), nullable=True),
        sa.Column("is_error", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("adw_id", "agent", name="pk_run_agents"),
    )
    op.create_table(
        "history_daily",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("a", sa.String(), nullable=False),
        sa.Column("b", sa.String(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "kind", "a", "b", name="pk_history_daily"),
    )
    op.create_index(
        "ix_history_daily_kind_a_b_day_count_total",
        "history_daily",
        ["kind", "a", "b", "day", "count", "total"],
    )
    op.create_table(
        "activity_minutes",
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", name="pk_activity_minutes"),
    )


def downgrade() -> None:
    op.drop_index("ix_history_daily_kind_a_b_day_count_total", table_name="history_daily")
    for table in ("activity_minutes", "history_daily", "run_agents", "run_phases"):
        op.drop_table(table)
    op.drop_index("ix_runs_cost_usd_adw_id", table_name="runs")
    op.drop_index("ix_runs_duration_ms_adw_id", table_name="runs")
    op.drop_index("ix_runs_first_seen_ms_adw_id", table_name="runs")
    op.drop_table("runs")
