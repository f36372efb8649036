"""Fill the history from the agents dir: `python -m livewatch.history.backfill DIR [DB]`.

It runs as a child process at low priority, so the server's port opens as fast as without it
and its event loop never waits on the scan. Runs the history saw end are skipped; the rest are
written 500 at a time in "fill" mode, which never overrides what the live recorder wrote (its
status wins; the earliest start and any known end are kept). Prints one JSON line:
{"runs": N, "seconds": S}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from livewatch.hub.records import ENDED
from livewatch.sources.run_history import RunFacts, scan_runs
from livewatch.store.database import database_url, migrate, open_engine
from livewatch.store.history import HistoryStore
from livewatch.store.schema import runs

CHUNK = 500
NICENESS = 10
BUSY_TIMEOUT_MS = 30_000  # the server's writers come first: wait for them, do not fail
RETRIES = 8
RETRY_FIRST_S = 0.5
DB_ENV = "LIVEWATCH_BACKFILL_DB"


def write_chunk(history: HistoryStore, chunk: list[RunFacts]) -> None:
    """Write one chunk; a busy database (the server's own writers at start-up) is waited out."""
    delay = RETRY_FIRST_S
    for attempt in range(RETRIES):
        try:
            history.write("runs", [f.run for f in chunk], "fill")
            history.write("run_phases", [p for f in chunk for p in f.phases], "fill")
            history.write("run_agents", [a for f in chunk for a in f.agents], "fill")
            return
        except OperationalError as error:
            if attempt == RETRIES - 1:
                raise
            print(
                f"backfill: database busy ({str(error).splitlines()[0]}); retrying", file=sys.stderr
            )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def backfill(agents_dir: Path, db: str) -> int:
    """Write every run on disk the history lacks; how many were written."""
    engine = open_engine(database_url(db), busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        migrate(engine)
        history = HistoryStore(engine)
        # The first backfill reads every folder: the live recorder may already have seen a
        # run, but only since this start. Later ones skip the runs that had ended: a run still
        # open may have gone through phases while livewatch was down, which only the disk
        # tells (the merge keeps the live status and the earliest starts).
        known: set[str] = set()
        if history.backfilled():
            with engine.connect() as connection:
                ended = select(runs.c.adw_id).where(runs.c.outcome.in_(sorted(ENDED)))
                known = set(connection.scalars(ended))
        written, chunk = 0, []
        for facts in scan_runs(agents_dir, skip=known, parallel=True):
            chunk.append(facts)
            if len(chunk) >= CHUNK:
                write_chunk(history, chunk)
                written, chunk = written + len(chunk), []
        if chunk:
            write_chunk(history, chunk)
            written += len(chunk)
        history.rollup()
        history.mark_backfilled()
        return written
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agents_dir", type=Path)
    # The URL may hold a password: it comes in the environment, not in `ps` output.
    parser.add_argument("db", nargs="?", default=os.environ.get(DB_ENV))
    args = parser.parse_args(argv)
    if not args.db:
        parser.error(f"give the database, or set {DB_ENV}")
    with contextlib.suppress(OSError):
        os.nice(NICENESS)  # the live dashboard comes first on a busy machine
    started = time.monotonic()
    count = backfill(args.agents_dir, args.db)
    print(json.dumps({"runs": count, "seconds": round(time.monotonic() - started, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
