"""The hub's last known records on disk, so a restart can serve its list at once.

`load` reads them back at start-up (the scan then verifies them behind the open port).
From then on the event loop only notes which records changed (`observe`: one dict update
per change); a thread writes what changed, once every `every_s`, in one transaction. A
database that fails never stops the server: the changes wait (the newest per record) and
are retried with growing delays, and the next scan repairs whatever a lost write missed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pydantic_core
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import SQLAlchemyError

from livewatch.hub.collection import Change
from livewatch.store.database import writing
from livewatch.store.queries import upsert_snapshots
from livewatch.store.schema import snapshots

log = logging.getLogger("livewatch.store")

Record = dict[str, Any]
# Keys per DELETE ... IN (...): well under SQLite's limit on bound parameters.
DELETE_CHUNK = 500


class SnapshotStore:
    """One collection's records, kept in the `snapshots` table under `source`."""

    def __init__(
        self,
        engine: Engine,
        source: str,
        *,
        key: Callable[[Record], str],
        check: Callable[[Record], object] = lambda record: record,
        every_s: float = 1.0,
        retry_max_s: float = 30.0,
    ) -> None:
        self.engine = engine
        self.source = source
        self.key = key
        self.check = check  # raises on a record the hub must not take (a model's validation)
        self.every_s = every_s
        self.retry_max_s = retry_max_s
        self.written = 0  # records written (or deleted) so far
        self.last_error: str | None = None
        self._cond = threading.Condition()
        self._pending: dict[str, Record | None] = {}  # None: the record is gone
        self._replace = False  # the next write makes the stored set exactly the pending one
        self._in_flight = False
        self._stopping = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livewatch-snapshots", daemon=True)

    # -- the event loop's side ------------------------------------------------------------

    def load(self) -> list[Record] | None:
        """The stored records, or None when there are none or they cannot be read.

        Blocking (a query). A row that is not a record of its key is skipped, and deleted
        with the next write.
        """
        stmt = select(snapshots.c.key, snapshots.c.record).where(snapshots.c.source == self.source)
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(stmt).all()
        except SQLAlchemyError as error:
            log.warning("[STORE] no snapshot to start from (%s)", _first_line(error))
            return None
        records, bad = [], []
        for key, text in rows:
            record = _parse(text)
            if record is not None and self._fits(record, key):
                records.append(record)
            else:
                bad.append(key)
        if bad:
            log.warning("[STORE] skipped %d unreadable snapshot records", len(bad))
            self._note(dict.fromkeys(bad))
        return records or None

    def _fits(self, record: Record, key: str) -> bool:
        try:
            self.check(record)
            return self.key(record) == key
        except (ValueError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
            return False

    def observe(self, change: Change) -> None:
        """Note a hub change; cheap enough to run on every change (a collection observer)."""
        found: dict[str, Record | None] = {self.key(r): r for r in change.upsert}
        found.update(dict.fromkeys(change.remove))
        self._note(found)

    def save_all(self, records: Iterable[Record]) -> None:
        """Make the stored set exactly `records` (after a start without a usable snapshot)."""
        with self._cond:
            self._pending = {self.key(r): r for r in records}
            self._replace = True
            self._cond.notify_all()

    def start(self) -> SnapshotStore:
        self._thread.start()
        return self

    def flush_sync(self, timeout: float = 10.0) -> bool:
        """Wait until everything noted so far is written; False on timeout."""
        with self._cond:
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: not (self._pending or self._replace or self._in_flight), timeout
            )

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending (one attempt), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _note(self, found: dict[str, Record | None]) -> None:
        with self._cond:
            self._pending.update(found)
            self._cond.notify_all()

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        delay = self.every_s
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._replace or self._stopping)
                if self._stopping and not (self._pending or self._replace):
                    return
            # Gather a second's worth of changes into one transaction (ended early by close).
            self._stop.wait(delay)
            with self._cond:
                batch, replace = self._pending, self._replace
                self._pending, self._replace, self._in_flight = {}, False, True
            try:
                self._write(batch, replace)
            except Exception as error:
                self._failed(batch, replace, error)
                if self._stopping:
                    return
                delay = min(max(delay * 2, self.every_s), self.retry_max_s)
                continue
            finally:
                with self._cond:
                    self._in_flight = False
                    self._cond.notify_all()
            if self.last_error is not None:
                log.warning("[STORE] snapshots are written again")
            self.last_error, delay = None, self.every_s
            self.written += len(batch)

    def _write(self, batch: dict[str, Record | None], replace: bool) -> None:
        table = snapshots.c
        rows = [
            {"source": self.source, "key": key, "record": json.dumps(record)}
            for key, record in batch.items()
            if record is not None
        ]
        gone = [key for key, record in batch.items() if record is None]
        with writing(self.engine) as connection:
            if replace:  # every stored row goes, so no single one needs deleting
                connection.execute(delete(snapshots).where(table.source == self.source))
                gone = []
            for start in range(0, len(gone), DELETE_CHUNK):
                chunk = gone[start : start + DELETE_CHUNK]
                connection.execute(
                    delete(snapshots).where(table.source == self.source, table.key.in_(chunk))
                )
            if rows:
                connection.execute(upsert_snapshots(self.engine.dialect.name), rows)

    def _failed(self, batch: dict[str, Record | None], replace: bool, error: Exception) -> None:
        first = self.last_error is None
        self.last_error = _first_line(error)
        with self._cond:
            # What was noted meanwhile is newer: it wins.
            self._pending = {**batch, **self._pending}
            self._replace = self._replace or replace
        if first:
            log.error("[STORE] cannot write snapshots (%s); retrying", self.last_error)


def _parse(text: object) -> Record | None:
    if not isinstance(text, str):
        return None
    try:
        # 10,000 records before the port opens: pydantic's parser takes 60 % of json's time,
        # and unlike orjson it keeps integers beyond 64 bits exact.
        record = pydantic_core.from_json(text)
    except ValueError:
        try:  # what it refuses and json takes: lone surrogates
            record = json.loads(text)
        except ValueError:
            return None
    return record if isinstance(record, dict) else None


def _first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]
