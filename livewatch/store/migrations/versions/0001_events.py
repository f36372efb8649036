"""Agent events and how far each transcript has been read.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# On SQLite an INTEGER PRIMARY KEY is the rowid itself: one B-tree, not a table plus an index.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("adw_id", sa.String(), nullable=True),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("app", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("tool", sa.String(), nullable=True),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("is_error", sa.Boolean(), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=True),
        sa.Column("tokens_out", sa.BigInteger(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("hook_event_type", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("origin", name="uq_events_origin"),
    )
    for columns in (
        ("adw_id", "seq"),
        ("adw_id", "agent", "seq"),
        ("agent", "seq"),
        ("kind", "seq"),
        ("tool", "seq"),
        ("app", "seq"),
        ("ts",),
    ):
        op.create_index(f"ix_events_{'_'.join(columns)}", "events", list(columns))
    op.create_table(
        "transcript_offsets",
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_transcript_offsets"),
    )


def downgrade() -> None:
    op.drop_table("transcript_offsets")
    op.drop_table("events")  # its indexes go with it
