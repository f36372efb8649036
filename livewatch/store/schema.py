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

# -- run history (issue #15): one row per run, per phase, per agent; a daily rollup. --------

runs = Table(
    "runs",
    metadata,
    Column("adw_id", String, primary_key=True),  # one run per workflow, however often seen
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("ended_ms", BigInteger),  # set once the outcome is final
    Column("duration_ms", BigInteger, nullable=False),  # (end or last seen) - first seen
    Column("host", String),
    Column("issue_number", Integer),
    Column("issue_class", String),
    Column("model_set", String),
    Column("status", String, nullable=False),  # the record's status as last seen
    Column("outcome", String, nullable=False),  # completed, failed, stalled or running
    Column("cost_usd", Float),
    Column("tokens_in", BigInteger),
    Column("tokens_out", BigInteger),
    # The runs table pages newest, slowest or costliest first (keyset on adw_id as tiebreak).
    Index(None, "first_seen_ms", "adw_id"),
    Index(None, "duration_ms", "adw_id"),
    Index(None, "cost_usd", "adw_id"),
)

run_phases = Table(
    "run_phases",
    metadata,
    Column("adw_id", String, primary_key=True),
    Column("phase", String, primary_key=True),
    Column("started_ms", BigInteger, nullable=False),
    Column("ended_ms", BigInteger),  # the next phase's start, or the run's end
)

run_agents = Table(
    "run_agents",
    metadata,
    Column("adw_id", String, primary_key=True),
    Column("agent", String, primary_key=True),
    Column("ended_ms", BigInteger, nullable=False),  # when its result line came
    Column("num_turns", Integer),
    Column("duration_ms", Float),
    Column("cost_usd", Float),
    Column("tokens_in", BigInteger),
    Column("tokens_out", BigInteger),
    Column("is_error", Boolean, nullable=False),
)

# Per UTC day (of a run's first sighting), counts derived from the tables above and rebuilt
# from them whenever a day's runs change: the summary reads ~100 rows a day, not every run.
# kind: "outcome" (a=outcome), "cost" (a=model set), "class" (a=issue class, b=outcome),
# "phase" (a=phase, b=duration bucket).
history_daily = Table(
    "history_daily",
    metadata,
    Column("day", Integer, primary_key=True),  # days since the epoch, UTC
    Column("kind", String, primary_key=True),
    Column("a", String, primary_key=True),
    Column("b", String, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
    # Covering, in group order: the range's class and phase totals are summed from the index
    # alone, without sorting (40 ms → 8 ms over 90 days of phase buckets).
    Index(None, "kind", "a", "b", "day", "count", "total"),
)

# The activity chart's changes per minute, so "N changes in the last hour" survives a restart.
activity_minutes = Table(
    "activity_minutes",
    metadata,
    Column("minute", BigInteger, primary_key=True),  # epoch seconds of the minute's start
    Column("count", BigInteger, nullable=False),
)


# Alerts (livewatch/alerts/): one row per workflow transition, keyed so that every replica
# and every restart that sees the same transition writes the same row once.
alerts = Table(
    "alerts",
    metadata,
    Column("key", String, primary_key=True),  # "<adw_id>:<event>:<what makes it unique>"
    Column("event", String, nullable=False),  # failed, completed, stalled, error, cost
    Column("adw_id", String, nullable=False),
    Column("body", Text, nullable=False),  # the JSON every webhook is sent
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "created_ms"),  # the panel's newest first
)

# One delivery per alert and webhook, so a webhook that took it is never sent it again
# while another is still retried. Claimed with a lease: a replica that dies mid-delivery
# leaves it to another (or to itself after a restart) once the lease runs out.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("key", String, primary_key=True),
    Column("target", String, primary_key=True),  # a digest of the URL: the URL is a secret
    Column("state", String, nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("first_try_ms", BigInteger),  # retries stop 10 minutes after this
    Column("lease_owner", String),
    Column("lease_until_ms", BigInteger),
    Column("done_ms", BigInteger),
    Column("last_error", String),
    Index(None, "state", "lease_until_ms"),  # what is left to claim
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
