"""The event store: agent events and transcript offsets, kept in SQLite or PostgreSQL.

Writes go through one `BatchWriter` thread, never the event loop; `flush` tells the hook
ingest when an event is safe on disk. Queries are plain blocking calls: callers run them in
a thread (`asyncio.to_thread`). A database that fails never takes the server down: the store
turns "degraded", keeps a bounded backlog in memory, and catches up when it can write again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from livewatch.hub.events import Event
from livewatch.store import queries
from livewatch.store.database import database_url, migrate, open_engine, writing
from livewatch.store.schema import events, meta, transcript_offsets
from livewatch.store.writer import BatchWriter, Offsets, Row, StoreState

log = logging.getLogger("livewatch.store")

DAY_MS = 86_400_000
# In a steady stream, at most 20 commits a second, 4 once each commit holds BUSY_ROWS or
# more (1,000 rows a second and up), or 100 while a hook post awaits its commit (each adds
# ~10 ms at worst to its answer). Transcript events are shown (and listed, from the hub's
# window) before they are durable, and their offsets commit with them, so a crash loses
# none; it shows up to one linger's events again after the restart. Each commit rewrites
# every index page its rows touched (~250 pages for 100 agents): at 2,000 lines/s, a 250 ms
# linger costs the writer ~5 % of a core less than 50 ms (which saved ~13 % over none).
LINGER_S = 0.05
BUSY_LINGER_S = 0.25
BUSY_ROWS = 50
AWAITED_LINGER_S = 0.01


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:  # gone, or its folder is: either way not the file we had
        return None


class StoreError(RuntimeError):
    """The database could not answer a query (unreachable, locked too long, or corrupt)."""


@contextmanager
def reading(engine: Engine, name: str) -> Iterator[Connection]:
    """A connection to read with; any database error becomes a `StoreError` naming `name`."""
    try:
        with engine.connect() as connection:
            yield connection
    except SQLAlchemyError as error:
        raise StoreError(f"cannot read {name}: {error}") from error


class EventStore:
    """Agent events on disk: batched writes off the event loop, queries for the REST API."""

    def __init__(
        self,
        engine: Engine,
        *,
        retention_days: float | None = 30,
        max_events: int | None = 1_000_000,
        prune_every_s: float = 60.0,
        prune_chunk: int = 5000,
        max_pending: int = 100_000,
        retry_max_s: float = 30.0,
    ) -> None:
        queries.insert_events(engine.dialect.name)  # fail now on a database we cannot write
        self.engine = engine
        self.retention_days = retention_days
        self.max_events = max_events
        self.prune_chunk = prune_chunk
        database = engine.url.database
        self.path = (
            Path(database)
            if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
            else None
        )
        self._inode: int | None = None  # the file (and its log) we write, to notice a swap
        self._wal_inode: int | None = None
        self._pruning: Iterator[int] | None = None
        self._closed = False
        self.refused = 0  # rows the database would not take (none expected: `to_row` cleans)
        self._writer = BatchWriter(
            self._write,
            prepare=self._prepare,
            reset=engine.dispose,
            housekeep=self._prune_step,
            housekeep_every_s=prune_every_s,
            max_pending=max_pending,
            retry_max_s=retry_max_s,
            linger_s=LINGER_S,
            awaited_linger_s=AWAITED_LINGER_S,
            busy_linger_s=BUSY_LINGER_S,
            busy_rows=BUSY_ROWS,
            name=str(self.path) if self.path else engine.url.render_as_string(hide_password=True),
        )

    @classmethod
    def open(
        cls,
        db: str | Path,
        *,
        retention_days: float | None = 30,
        max_events: int | None = 1_000_000,
        prune_every_s: float = 60.0,
        max_pending: int = 100_000,
        busy_timeout_ms: int = 5000,
        retry_max_s: float = 30.0,
    ) -> EventStore:
        """Open (create, migrate) the store at a file path or SQLAlchemy URL and start writing.

        A database that cannot be opened yet does not raise: the store starts degraded and
        keeps trying. `retention_days` / `max_events` of None keep events forever / all.
        """
        engine = open_engine(database_url(db), busy_timeout_ms=busy_timeout_ms)
        store = cls(
            engine,
            retention_days=retention_days,
            max_events=max_events,
            prune_every_s=prune_every_s,
            max_pending=max_pending,
            retry_max_s=retry_max_s,
        )
        store.start()
        return store

    def start(self) -> None:
        """Prepare the database (in the caller's thread) and start the writer thread."""
        try:
            self._prepare()
            ready, durable = True, self.max_seq()
        except Exception as error:
            ready, durable = False, 0
            self._writer.last_error = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            log.error(
                "[STORE] cannot open %s (%s); events stay in memory until it works",
                self._writer.name,
                self._writer.last_error,
            )
        self._writer.start(ready=ready, durable_seq=durable)
        if ready:
            log.info("[STORE] opened %s (newest seq %d)", self._writer.name, durable)

    # -- state ----------------------------------------------------------------------------

    @property
    def state(self) -> StoreState:
        """Either "ok", or "degraded" while the database cannot be written."""
        return self._writer.state

    @property
    def durable_seq(self) -> int:
        """Every event up to this seq is committed (or given up)."""
        return self._writer.durable_seq

    @property
    def dropped(self) -> int:
        """Events given up because the database stayed unwritable for too long."""
        return self._writer.dropped

    def status(self) -> dict[str, Any]:
        """For health checks and metrics."""
        w = self._writer
        return {
            "state": w.state,
            "pending": w.pending,
            "written": w.written,
            "dropped": w.dropped,
            "refused": self.refused,
            "durable_seq": w.durable_seq,
            "last_error": w.last_error,
        }

    # -- writing --------------------------------------------------------------------------

    def submit(
        self, events: list[Event], offsets: dict[str, tuple[int, int]] | None = None
    ) -> None:
        """Queue events (numbered by the hub) and transcript offsets (path: (inode, offset)).

        Returns at once; the writer thread commits them together, so a stored offset never
        runs ahead of the events read before it. Raises ValueError for an event without seq.
        """
        # Only the seq is checked here: turning events into rows is the writer thread's work,
        # off the event loop (at 2,000 events a second it is a tenth of a core).
        for event in events:
            queries.check_seq(event.get("seq"))
        self._writer.submit(list(events), offsets)

    async def flush(self, seq: int | None = None, *, timeout: float | None = None) -> bool:
        """Wait until all submitted so far (or everything up to `seq`) is committed.

        True then; False on timeout or if those events were dropped. After True the events
        survive the process being killed.
        """
        return await self._writer.flush(seq, timeout=timeout)

    def flush_sync(self, seq: int | None = None, *, timeout: float | None = None) -> bool:
        """`flush` for code outside the event loop."""
        return self._writer.flush_sync(seq, timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the writer thread and let go of the database."""
        if self._closed:
            return
        self._closed = True
        self._writer.close(timeout)
        self.engine.dispose()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the writer thread's side ----------------------------------------------------------

    def _prepare(self) -> None:
        """Make the database usable: its folder, its schema (migrated to the newest)."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        migrate(self.engine)
        self._remember_files()

    def _remember_files(self) -> None:
        if self.path is not None:
            self._inode = _inode(self.path)
            self._wal_inode = _inode(Path(f"{self.path}-wal"))

    def _reopen(self) -> None:
        """Start over on whatever file is now at the path (after it was removed or replaced)."""
        assert self.path is not None
        log.warning("[STORE] %s was removed or replaced while open; reopening it", self.path)
        self.engine.dispose()
        # SQLite leaves the log of a database that was unlinked under it. Replayed into the new
        # file at this path, it would mix the old database's pages into it: remove it, but only
        # when it is the very log we wrote.
        if self._wal_inode is not None and _inode(Path(f"{self.path}-wal")) == self._wal_inode:
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._prepare()

    def _write(self, rows: list[Row], offsets: Offsets) -> None:
        # Open connections would go on writing to a removed or replaced file, and all of it
        # would be lost: notice, and start over on the file now at the path.
        if self.path is not None and _inode(self.path) != self._inode:
            self._reopen()
        dialect = self.engine.dialect.name
        now = now_ms()
        rows = [queries.to_row(event, now) for event in rows]
        try:
            with writing(self.engine) as connection:
                self._insert(connection, dialect, rows, offsets)
        except (IntegrityError, DataError):
            # The database works but refuses some row: write one at a time and skip only those.
            self._write_each(dialect, rows, offsets)
        self._remember_files()

    @staticmethod
    def _insert(connection: Connection, dialect: str, rows: list[Row], offsets: Offsets) -> None:
        if rows and dialect == "sqlite":
            # The driver's own executemany: SQLAlchemy's per-row parameter handling cost more
            # than SQLite's insert itself at thousands of rows a second.
            sql, params = queries.sqlite_insert_events(rows)
            connection.exec_driver_sql(sql, params)
        elif rows:
            connection.execute(queries.insert_events(dialect), rows)
        if offsets:
            connection.execute(
                queries.upsert_offsets(dialect), queries.offset_rows(offsets, now_ms())
            )

    def _write_each(self, dialect: str, rows: list[Row], offsets: Offsets) -> None:
        for row in rows:
            try:
                with writing(self.engine) as connection:
                    self._insert(connection, dialect, [row], {})
            except (IntegrityError, DataError) as error:
                self.refused += 1
                log.error(
                    "[STORE] refused event seq=%s: %s", row["seq"], str(error).splitlines()[0]
                )
        with writing(self.engine) as connection:
            self._insert(connection, dialect, [], offsets)

    # -- retention ------------------------------------------------------------------------

    def prune(self, now: int | None = None) -> int:
        """Delete events beyond `max_events` or older than `retention_days`; how many went.

        Works in chunks of `prune_chunk` rows, one short transaction each.
        """
        return sum(self._prune_chunks(now_ms() if now is None else now))

    def _prune_chunks(self, now: int) -> Iterator[int]:
        conditions = []
        if self.max_events is not None:
            with self.engine.connect() as connection:
                cut = queries.count_cut(connection, self.max_events)
            if cut is not None:
                conditions.append(events.c.seq <= cut)
        if self.retention_days is not None:
            conditions.append(events.c.ts < now - int(self.retention_days * DAY_MS))
        total = 0
        for condition in conditions:
            while True:
                with writing(self.engine) as connection:
                    deleted = queries.delete_chunk(connection, condition, self.prune_chunk)
                total += deleted
                yield deleted
                if deleted < self.prune_chunk:
                    break
        if total:
            log.info("[STORE] pruned %d events from %s", total, self._writer.name)

    def _prune_step(self) -> bool:
        """One chunk of a retention pass (run by the writer between batches); True if more."""
        if self._pruning is None:
            self._pruning = self._prune_chunks(now_ms())
        try:
            next(self._pruning)
        except StopIteration:
            self._pruning = None
            return False
        except Exception:
            self._pruning = None
            raise
        return True

    # -- reading --------------------------------------------------------------------------

    def _reading(self) -> AbstractContextManager[Connection]:
        return reading(self.engine, self._writer.name)

    def max_seq(self) -> int:
        """The newest stored seq; 0 when empty."""
        with self._reading() as connection:
            return int(connection.scalar(select(func.max(events.c.seq))) or 0)

    def offsets(self) -> dict[str, tuple[int, int]]:
        """How far each transcript was read and stored: path: (inode, offset)."""
        stmt = select(
            transcript_offsets.c.path, transcript_offsets.c.inode, transcript_offsets.c.offset
        )
        with self._reading() as connection:
            # `all()`: one fetch, not a driver call per row (23,000 rows held the port 0.15 s).
            return {path: (inode, offset) for path, inode, offset in connection.execute(stmt).all()}

    def query(
        self,
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
    ) -> list[dict[str, Any]]:
        """Events matching every filter given, newest first, public fields only.

        `q` matches summary, tool or agent, ignoring case. `before`/`after` are seqs: the page
        older than `before`, or the `limit` events right after `after`. `limit` is 1..1000.
        """
        stmt, forward = queries.filtered(
            workflow=workflow,
            agent=agent,
            app=app,
            kind=kind,
            tool=tool,
            q=q,
            before=before,
            after=after,
            limit=limit,
        )
        with self._reading() as connection:
            rows = [dict(row._mapping) for row in connection.execute(stmt)]
        return rows[::-1] if forward else rows

    def get(self, seq: int) -> dict[str, Any] | None:
        """One event with its payload and origin; None when not stored."""
        with self._reading() as connection:
            row = connection.execute(select(events).where(events.c.seq == seq)).first()
        return dict(row._mapping) if row is not None else None

    def recent(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest `limit` events, oldest first (to seed the hub's history)."""
        stmt = select(*queries.PUBLIC).order_by(events.c.seq.desc()).limit(max(0, int(limit)))
        with self._reading() as connection:
            return [dict(row._mapping) for row in connection.execute(stmt)][::-1]

    def tail(
        self,
        adw_id: str,
        agent: str,
        limit: int = 100,
        before: int | None = None,
        *,
        payload: bool = False,
    ) -> list[dict[str, Any]]:
        """A page of one agent's transcript, oldest first: the `limit` events before `before`."""
        stmt = queries.transcript(adw_id, agent, limit, before, payload=payload)
        with self._reading() as connection:
            return [dict(row._mapping) for row in connection.execute(stmt)][::-1]

    def distinct_values(self, window: int = 100_000, cap: int = 1000) -> dict[str, list[str]]:
        """The values of each filter among the newest `window` events (at most `cap` each)."""
        with self._reading() as connection:
            top = int(connection.scalar(select(func.max(events.c.seq))) or 0)
            return queries.distinct(connection, top - window, cap)

    def hook_page(self, before: int, limit: int) -> list[dict[str, Any]]:
        """A page for the hooks dashboard, newest first: public fields, and a hook's own
        `payload` and `summary` (`hook_payload`, `posted_summary`), never its `chat`."""
        stmt = queries.hook_page(self.engine.dialect.name, before, limit)
        with self._reading() as connection:
            return [dict(row._mapping) for row in connection.execute(stmt)]

    def hook_filter_values(self, window: int) -> dict[str, list[Any]]:
        """Apps, agents and (hook_event_type, kind, is_error) among the newest `window`."""
        with self._reading() as connection:
            return queries.hook_filter_values(connection, window)

    def get_meta(self, key: str) -> str | None:
        with self._reading() as connection:
            return connection.scalar(select(meta.c.value).where(meta.c.key == key))

    def set_meta(self, key: str, value: str) -> None:
        """Store a small named value at once (not through the writer's queue)."""
        try:
            with writing(self.engine) as connection:
                connection.execute(
                    queries.upsert_meta(self.engine.dialect.name), {"key": key, "value": value}
                )
        except SQLAlchemyError as error:
            raise StoreError(f"cannot write {self._writer.name}: {error}") from error
