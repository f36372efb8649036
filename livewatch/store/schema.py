"""The store's tables, as SQLAlchemy Core metadata: what queries are written against.

Migrations (in `migrations/versions/`) create these tables; they never import this module,
because a revision must keep describing the schema of its day. A test checks that the
migrated database matches this metadata, so the two cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# Named constraints: Alembic can only alter or drop what has a stable name (and SQLite's
# batch mode needs the names to rebuild a table).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# On SQLite an INTEGER PRIMARY KEY is the rowid itself: one B-tree, not a table plus an index.
SEQ = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    # Numbered by the hub, so never generated here.
    Column("seq", SEQ, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, nullable=False),  # epoch ms
    Column("source", String, nullable=False),
    Column("adw_id", String),
    Column("agent", String, nullable=False),
    Column("app", String),
    Column("kind", String, nullable=False),
    Column("tool", String),
    Column("summary", String, nullable=False),
    Column("is_error", Boolean, nullable=False),
    Column("tokens_in", BigInteger),
    Column("tokens_out", BigInteger),
    Column("cost_usd", Float),
    Column("hook_event_type", String),
    Column("model", String),
    Column("payload", Text, nullable=False),  # the raw line or hook body; many MB at times
    # "file:<adw_id>/<agent>@<offset>": a transcript line read twice is stored once.
    Column("origin", String, unique=True),
    # Every filter of the REST API walks one of these newest-first.
    Index(None, "adw_id", "seq"),
    Index(None, "adw_id", "agent", "seq"),  # a transcript's page
    Index(None, "agent", "seq"),
    Index(None, "app", "seq"),
    Index(None, "ts"),  # retention by age
)

transcript_offsets = Table(
    "transcript_offsets",
    metadata,
    Column("path", String, primary_key=True),  # relative to the agents folder
    Column("inode", BigInteger, nullable=False),  # a new inode means the file was replaced
    Column("offset", BigInteger, nullable=False),  # bytes read and stored so far
    Column("updated_ms", BigInteger, nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

# The last known records, so a restart serves the list at once while its first scan
# verifies them behind it. One set per agents dir (`source`): a `--db` may serve several.
snapshots = Table(
    "snapshots",
    metadata,
    Column("source", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("record", Text, nullable=False),  # the record's JSON, as the hub held it
)
