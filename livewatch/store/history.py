"""The run history on disk: runs, phases and agents, written in batches off the event loop.

history = HistoryStore(engine); history.start()
history.submit("runs", [row])                         # from the event loop; never blocks
page = history.runs(from_ms=..., sort="slowest")      # blocking: call it in a thread
summary = history.summary(days=30)

It shares the event store's database and writer design (`BatchWriter`): while the database
cannot be written it turns "degraded", keeps a bounded backlog, and catches up later. The
daily rollup behind `summary` is rebuilt for the days a batch touched, at most once a second.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from livewatch.store import history_sql as sql
from livewatch.store.database import migrate, writing
from livewatch.store.events import reading
from livewatch.store.history_summary import summarize
from livewatch.store.queries import upsert_meta
from livewatch.store.schema import meta
from livewatch.store.writer import BatchWriter, Offsets, Row, StoreState

log = logging.getLogger("livewatch.store")

TABLES = ("runs", "run_phases", "run_agents", "activity")
BACKFILL_KEY = "history_backfill"
ROLLUP_DAYS_PER_STEP = 20
# How stale a day's summary may get while its runs change. A day is rebuilt from all its runs
# (four grouped queries and a pass over their phases): at 10,000 runs in one day, once a second
# was 16 % of the server's GIL time while changes came to 100 open tabs.
ROLLUP_EVERY_S = 5.0
PG_ROLLUP_LOCK = 0x6C77686973746F72  # "lwhistor": replicas rebuild a day one at a time


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def merge_rows(table: str, rows: list[Row]) -> list[Row]:
    """One row per key, merged as the upserts would, so no statement touches a row twice
    (PostgreSQL refuses that within one INSERT ... ON CONFLICT), sorted by key."""
    merged: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        key = _key(table, row)
        old = merged.get(key)
        if old is None:
            merged[key] = dict(row)
        elif table == "runs":
            merged[key] = {
                **row,
                "first_seen_ms": min(old["first_seen_ms"], row["first_seen_ms"]),
                "last_seen_ms": max(old["last_seen_ms"], row["last_seen_ms"]),
            }
        elif table == "run_phases":
            merged[key] = {
                **row,
                "started_ms": min(old["started_ms"], row["started_ms"]),
                "ended_ms": row["ended_ms"] if row["ended_ms"] is not None else old["ended_ms"],
            }
        elif table == "activity":
            merged[key] = row if row["count"] >= old["count"] else old
        else:
            merged[key] = dict(row)
    # In key order: two writers locking the same rows in the same order cannot deadlock.
    return [merged[key] for key in sorted(merged)]


def _key(table: str, row: Row) -> tuple[Any, ...]:
    if table == "run_phases":
        return row["adw_id"], row["phase"]
    if table == "run_agents":
        return row["adw_id"], row["agent"]
    if table == "activity":
        return (row["minute"],)
    return (row["adw_id"],)


def run_view(row: Row, phases: list[Row], agents: list[Row]) -> dict[str, Any]:
    """A run as the API and the CSV show it: times as ISO 8601, durations in ms."""
    return {
        "adw_id": row["adw_id"],
        "outcome": row["outcome"],
        "status": row["status"],
        "host": row["host"],
        "issue_number": row["issue_number"],
        "issue_class": row["issue_class"],
        "model_set": row["model_set"],
        "started_at": iso(row["first_seen_ms"]),
        "ended_at": iso(row["ended_ms"]),
        "duration_ms": row["duration_ms"],
        "cost_usd": row["cost_usd"],
        "tokens_in": row["tokens_in"],
        "tokens_out": row["tokens_out"],
        "phases": [
            {
                "phase": p["phase"],
                "started_at": iso(p["started_ms"]),
                "ended_at": iso(p["ended_ms"]),
                "duration_ms": None
                if p["ended_ms"] is None
                else max(0, p["ended_ms"] - p["started_ms"]),
            }
            for p in phases
        ],
        "agents": [
            {
                "agent": a["agent"],
                "ended_at": iso(a["ended_ms"]),
                "num_turns": a["num_turns"],
                "duration_ms": a["duration_ms"],
                "cost_usd": a["cost_usd"],
                "tokens_in": a["tokens_in"],
                "tokens_out": a["tokens_out"],
                "is_error": a["is_error"],
            }
            for a in agents
        ],
    }


class HistoryStore:
    """Runs, phases, agents and the activity tally, in the event store's database."""

    def __init__(
        self,
        engine: Engine,
        *,
        rollup_every_s: float = ROLLUP_EVERY_S,
        max_pending: int = 100_000,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._dirty: set[int] = set()  # days whose rollup is out of date
        self._numbers = itertools.count(1)  # the writer counts rows by a seq of their own
        self._writer = BatchWriter(
            self._write,
            prepare=lambda: migrate(engine),
            reset=engine.dispose,
            housekeep=self._rollup_step,
            housekeep_every_s=rollup_every_s,
            max_pending=max_pending,
            name="history",
        )

    def start(self) -> None:
        """Migrate (in the caller's thread) and start the writer thread; never raises."""
        try:
            migrate(self.engine)
            ready = True
        except Exception as error:
            ready = False
            self._writer.last_error = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            log.error("[STORE] history cannot open its database (%s)", self._writer.last_error)
        self._writer.start(ready=ready)

    @property
    def state(self) -> StoreState:
        return self._writer.state

    @property
    def stale_days(self) -> frozenset[int]:
        """Days whose rollup waits for the next rebuild (at most `rollup_every_s` away)."""
        return frozenset(self._dirty)

    def status(self) -> dict[str, Any]:
        w = self._writer
        return {"state": w.state, "pending": w.pending, "written": w.written,
                "dropped": w.dropped, "last_error": w.last_error}  # fmt: skip

    def close(self, timeout: float = 10.0) -> None:
        self._writer.close(timeout)
        # Days touched by the last batches: their rollup must not wait for the next start.
        try:
            while self._rollup_step():
                pass
        except SQLAlchemyError as error:
            log.warning("[STORE] history rollup at close failed: %s", error)

    # -- writing --------------------------------------------------------------------------

    def submit(self, table: str, rows: list[Row], mode: sql.Mode = "live") -> None:
        """Queue rows for `table` (one of TABLES); returns at once."""
        if table not in TABLES:
            raise ValueError(f"no history table {table!r}")
        self._writer.submit(
            [{"seq": next(self._numbers), "table": table, "mode": mode, "row": r} for r in rows]
        )

    def flush_sync(self, timeout: float | None = None) -> bool:
        return self._writer.flush_sync(timeout=timeout)

    def write(self, table: str, rows: list[Row], mode: sql.Mode = "live") -> None:
        """Write now, in the caller's thread (the backfill's own process); raises on failure."""
        self._write([{"table": table, "mode": mode, "row": r} for r in rows], {})

    def _write(self, ops: list[Row], _offsets: Offsets) -> None:
        grouped: dict[tuple[str, str], list[Row]] = {}
        for op in ops:
            grouped.setdefault((op["mode"], op["table"]), []).append(op["row"])

        def ids_of(table: str) -> set[str]:
            return {row["adw_id"] for (_, t), rows in grouped.items() if t == table for row in rows}

        run_ids, phase_ids = ids_of("runs"), ids_of("run_phases")
        with writing(self.engine) as connection:
            before = sql.rollup_facts(connection, run_ids | phase_ids)
            # The backfill's view first: the live one, written after, wins where they differ.
            for mode in ("fill", "live"):
                for table in TABLES:
                    if rows := grouped.get((mode, table)):
                        connection.execute(self._upsert(table, mode), merge_rows(table, rows))
            after = sql.rollup_facts(connection, run_ids | phase_ids)
        # A running run's tokens change every second, but the rollup sums none of them: only
        # runs whose summed facts changed (and runs whose phases moved) make a day stale.
        stale = phase_ids | {i for i in run_ids if before.get(i) != after.get(i)}
        self._dirty |= {
            sql.day_of(facts[0])
            for i in stale
            for facts in (before.get(i), after.get(i))
            if facts is not None
        }

    def _upsert(self, table: str, mode: str) -> Any:
        fill: sql.Mode = "fill" if mode == "fill" else "live"
        if table == "runs":
            return sql.upsert_runs(self.dialect, fill)
        if table == "run_phases":
            return sql.upsert_phases(self.dialect, fill)
        if table == "run_agents":
            return sql.upsert_agents(self.dialect, fill)
        return sql.upsert_activity(self.dialect)

    def rollup(self) -> None:
        """Rebuild every day touched so far (the backfill calls it before it exits)."""
        while self._rollup_step():
            pass

    def _rollup_step(self) -> bool:
        """Rebuild a few touched days; True while more remain."""
        days = sorted(self._dirty)[:ROLLUP_DAYS_PER_STEP]
        if not days:
            return False
        with writing(self.engine) as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_ROLLUP_LOCK})
            for day in days:
                sql.rebuild_day(connection, day)
        self._dirty.difference_update(days)
        return bool(self._dirty)

    def mark_backfilled(self) -> None:
        with writing(self.engine) as connection:
            connection.execute(upsert_meta(self.dialect), {"key": BACKFILL_KEY, "value": "done"})

    # -- reading --------------------------------------------------------------------------

    def _reading(self) -> AbstractContextManager[Connection]:
        return reading(self.engine, "the history")

    def backfilled(self) -> bool:
        """True once a backfill of this database finished."""
        with self._reading() as connection:
            value = connection.scalar(select(meta.c.value).where(meta.c.key == BACKFILL_KEY))
        return value == "done"

    def runs(
        self,
        *,
        from_ms: int | None = None,
        to_ms: int | None = None,
        outcome: str | None = None,
        issue_class: str | None = None,
        sort: sql.Sort = "newest",
        cursor: str | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        """A page of runs with their phases and agents, and the cursor of the next page.

        Raises ValueError for a cursor this store did not give out.
        """
        after = sql.decode_cursor(cursor) if cursor else None
        stmt = sql.runs_page(
            from_ms=from_ms,
            to_ms=to_ms,
            outcome=outcome,
            issue_class=issue_class,
            sort=sort,
            after=after,
            limit=limit,
        )
        with self._reading() as connection:
            rows = [dict(r._mapping) for r in connection.execute(stmt)]
            phases, agents = sql.parts_of(connection, [r["adw_id"] for r in rows])
        by_run: dict[str, tuple[list[Row], list[Row]]] = {r["adw_id"]: ([], []) for r in rows}
        for phase in phases:
            by_run[phase["adw_id"]][0].append(phase)
        for agent in agents:
            by_run[agent["adw_id"]][1].append(agent)
        last = rows[-1] if len(rows) == sql.clamp(limit) else None
        return {
            "runs": [run_view(r, *by_run[r["adw_id"]]) for r in rows],
            "next_cursor": None
            if last is None
            else sql.encode_cursor(last["sort_key"], last["adw_id"]),
        }

    def all_runs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every run matching the filters, page after page (for the CSV export)."""
        cursor = None
        while True:
            page = self.runs(**filters, cursor=cursor, limit=sql.clamp(10**9))
            yield from page["runs"]
            if (cursor := page["next_cursor"]) is None:
                return

    def summary(self, days: int, now_ms: int | None = None) -> dict[str, Any]:
        """Runs per outcome and cost per model set per day, phase percentiles and success
        per issue class, over the last `days` UTC days (today included)."""
        today = sql.day_of(time.time_ns() // 1_000_000 if now_ms is None else now_ms)
        first = today - days + 1
        with self._reading() as connection:
            rows = [row for stmt in sql.daily_rows(first) for row in connection.execute(stmt)]
        return {"range_days": days, **summarize(rows, first, today)}

    def activity(self, since_minute: int) -> list[tuple[int, int]]:
        """(minute start in epoch seconds, changes) from `since_minute` on."""
        with self._reading() as connection:
            return [
                (int(m), int(c)) for m, c in connection.execute(sql.activity_since(since_minute))
            ]
