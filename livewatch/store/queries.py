"""The event store's SQL: events into rows, filtered pages out, old rows pruned in chunks.

Only SQLAlchemy Core constructs, so the same statements run on SQLite and PostgreSQL; the
two differ only in how "insert unless present" is spelled, which `insert_events` picks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Select,
    String,
    case,
    cast,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.dml import Insert

from livewatch.hub.events import EVENT_FIELDS
from livewatch.store.schema import events, meta, snapshots, transcript_offsets

Row = dict[str, Any]
MAX_LIMIT = 1000
INT64_MAX = 2**63 - 1
PUBLIC = [events.c[name] for name in EVENT_FIELDS]
TEXT_FIELDS = (
    *("source", "adw_id", "agent", "app", "kind", "tool", "summary"),
    *("hook_event_type", "model", "payload", "origin"),
)
REQUIRED_TEXT = ("source", "agent", "kind", "summary", "payload")  # NOT NULL: "" when missing


def clamp(limit: int, high: int = MAX_LIMIT) -> int:
    """`limit` brought into 1..high, so no request can ask for the whole table."""
    return max(1, min(high, int(limit)))


# -- events into rows -------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    # PostgreSQL refuses NUL in text; one odd character must not sink a whole batch.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _int(value: object) -> int | None:
    if value is None:
        return None  # the common case: raising and catching costs ~1 µs a field
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -INT64_MAX <= number <= INT64_MAX else None


def _float(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_seq(seq: object) -> int:
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq <= INT64_MAX:
        raise ValueError(f"an event needs the hub's seq (a positive int), not {seq!r}")
    return seq


def to_row(event: Mapping[str, Any], now_ms: int) -> Row:
    """A row for `events`, with every value of a type the column takes.

    Done in the writer thread; a value of the wrong type is cleaned, never refused.
    """
    seq = check_seq(event.get("seq"))
    row: Row = {name: _text(event.get(name)) for name in TEXT_FIELDS}
    for name in REQUIRED_TEXT:
        row[name] = row[name] or ""
    row.update(
        seq=seq,
        ts=_int(event.get("ts")) or now_ms,
        is_error=bool(event.get("is_error")),
        tokens_in=_int(event.get("tokens_in")),
        tokens_out=_int(event.get("tokens_out")),
        cost_usd=_float(event.get("cost_usd")),
    )
    return row


def _insert(table: Any, dialect: str) -> Insert:
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"the store supports SQLite and PostgreSQL, not {dialect}")


def insert_events(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING.

    No conflict target on purpose: it covers both the origin (a transcript line read twice)
    and the seq (a batch whose commit succeeded but whose answer was lost, written again).
    """
    return _insert(events, dialect).on_conflict_do_nothing()  # type: ignore[attr-defined,no-any-return]


def sqlite_insert_events(rows: list[Row]) -> tuple[str, list[tuple[Any, ...]]]:
    """`insert_events` for SQLite's driver: one statement, the rows as tuples."""
    columns = list(rows[0])
    sql = (
        f"INSERT OR IGNORE INTO events ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    return sql, [tuple(row[c] for c in columns) for row in rows]


def upsert_offsets(dialect: str) -> Insert:
    """Insert a transcript's offset, or move an existing one."""
    stmt: Any = _insert(transcript_offsets, dialect)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[transcript_offsets.c.path],
        set_={name: stmt.excluded[name] for name in ("inode", "offset", "updated_ms")},
    )


def upsert_meta(dialect: str) -> Insert:
    stmt: Any = _insert(meta, dialect)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[meta.c.key], set_={"value": stmt.excluded.value}
    )


def upsert_snapshots(dialect: str) -> Insert:
    """Store a record's last known state, or replace the one stored."""
    stmt: Any = _insert(snapshots, dialect)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[snapshots.c.source, snapshots.c.key], set_={"record": stmt.excluded.record}
    )


def offset_rows(offsets: Mapping[str, tuple[int, int]], now_ms: int) -> list[Row]:
    return [
        {"path": path, "inode": int(inode), "offset": int(offset), "updated_ms": now_ms}
        for path, (inode, offset) in offsets.items()
    ]


# -- reading ------------------------------------------------------------------------------


def filtered(
    *,
    workflow: str | None = None,
    agent: str | None = None,
    app: str | None = None,
    kind: str | None = None,
    tool: str | None = None,
    q: str | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = 100,
) -> tuple[Select[Any], bool]:
    """The page of public fields matching every filter; True when it comes oldest-first.

    `before` pages back (older than that seq), `after` pages forward: the `limit` events just
    after it, so a client catching up never skips a gap. Both come newest-first to the caller.
    """
    where: list[ColumnElement[bool]] = []
    equal: tuple[tuple[Column[Any], str | None], ...] = (
        (events.c.adw_id, workflow),
        (events.c.agent, agent),
        (events.c.app, app),
        (events.c.kind, kind),
        (events.c.tool, tool),
    )
    where += [column == value for column, value in equal if value is not None]
    if q:
        where.append(
            or_(
                *(
                    column.icontains(q, autoescape=True)
                    for column in (events.c.summary, events.c.tool, events.c.agent)
                )
            )
        )
    if before is not None:
        where.append(events.c.seq < before)
    if after is not None:
        where.append(events.c.seq > after)
    forward = after is not None and before is None
    order = events.c.seq.asc() if forward else events.c.seq.desc()
    return select(*PUBLIC).where(*where).order_by(order).limit(clamp(limit)), forward


def transcript(
    adw_id: str, agent: str, limit: int, before: int | None, *, payload: bool
) -> Select[Any]:
    """One agent's events of one workflow, newest first (the caller turns the page around)."""
    columns = [*PUBLIC, events.c.payload] if payload else PUBLIC
    stmt = select(*columns).where(events.c.adw_id == adw_id, events.c.agent == agent)
    if before is not None:
        stmt = stmt.where(events.c.seq < before)
    return stmt.order_by(events.c.seq.desc()).limit(clamp(limit))


DISTINCT = {
    "apps": events.c.app,
    "agents": events.c.agent,
    "tools": events.c.tool,
    "kinds": events.c.kind,
    "workflows": events.c.adw_id,
}


def distinct(connection: Connection, since_seq: int, cap: int) -> dict[str, list[str]]:
    """The values each filter can take, among events after `since_seq`, sorted, `cap` each."""
    found: dict[str, list[str]] = {}
    for name, column in DISTINCT.items():
        stmt = (
            select(column)
            .where(events.c.seq > since_seq, column.is_not(None), column != "")
            .distinct()
            .order_by(column)
            .limit(cap)
        )
        found[name] = list(connection.scalars(stmt))
    return found


# -- retention ----------------------------------------------------------------------------


def count_cut(connection: Connection, max_events: int) -> int | None:
    """The highest seq that falls outside the newest `max_events`; None when all fit."""
    stmt = select(events.c.seq).order_by(events.c.seq.desc()).offset(max_events).limit(1)
    return connection.scalar(stmt)


def delete_chunk(connection: Connection, condition: ColumnElement[bool], chunk: int) -> int:
    """Delete at most `chunk` rows matching `condition`; how many went."""
    victims = select(events.c.seq).where(condition).limit(chunk)
    result = connection.execute(delete(events).where(events.c.seq.in_(victims)))
    return int(result.rowcount or 0)


# -- the hooks dashboard's reads --------------------------------------------------------------


def hook_field(dialect: str, key: str, *, as_text: bool) -> ColumnElement[Any]:
    """A top-level field of a hook's stored body, read by the database (never the whole
    body: a Stop's `chat` can be many MB)."""
    payload = events.c.payload
    if dialect == "postgresql":
        # `->` / `->>`, not subscripts: those need PostgreSQL 14.
        body = cast(payload, JSONB)
        extracted: ColumnElement[Any] = (
            body.op("->>")(key) if as_text else cast(body.op("->")(key), String)
        )
    else:
        extracted = func.json_extract(payload, f"$.{key}")
    return case((events.c.source == "hook", extracted), else_=None)


def hook_page(dialect: str, before: int, limit: int) -> Select[Any]:
    """The `limit` events older than `before`, newest first, with a hook's own `payload` and
    `summary` fields as `hook_payload` and `posted_summary`."""
    return (
        select(
            *PUBLIC,
            hook_field(dialect, "payload", as_text=False).label("hook_payload"),
            hook_field(dialect, "summary", as_text=True).label("posted_summary"),
        )
        .where(events.c.seq < before)
        .order_by(events.c.seq.desc())
        .limit(clamp(limit))
    )


def hook_filter_values(connection: Connection, window: int) -> dict[str, list[Any]]:
    """Among the newest `window` events: each app (a hook's source_app, else the adw_id),
    the newest 300 agents, and each (hook_event_type, kind, is_error) seen."""
    top = int(connection.scalar(select(func.max(events.c.seq))) or 0)
    recent = events.c.seq > top - window
    app = case((events.c.source == "hook", events.c.app), else_=events.c.adw_id)
    return {
        "apps": list(connection.scalars(select(app).where(recent).distinct()).all()),
        "agents": list(
            connection.scalars(
                select(events.c.agent)
                .where(recent)
                .distinct()
                .order_by(events.c.agent.desc())
                .limit(300)
            ).all()
        ),
        "types": [
            tuple(row)
            for row in connection.execute(
                select(events.c.hook_event_type, events.c.kind, events.c.is_error)
                .where(recent)
                .distinct()
            ).all()
        ],
    }
