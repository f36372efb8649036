"""The first scan, split over forked processes started before the server's heavy imports.

Reading 10,000 workflow folders takes about 1.7 s in one process, and about half of that in
two (the reads are per folder, with no shared state): so the scan runs on every core while
this process imports NiceGUI. The watch process starts right after the fork, so its watches
go up while the scan runs, not after it. The forked processes stay until the catch-up scan
made once the watches are up (`again`) is done, so that one runs off the server's event
loop and GIL too. Where `fork` is not the way to start processes (macOS, Windows) or the
workflows come from a broker, nothing starts and the server scans itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from livewatch.settings import Settings
from livewatch.sources import workflows
from livewatch.sources.staged_events import StagedFileEvents, WatchEvents

log = logging.getLogger("livewatch")

Records = list[dict[str, object]]
Scanned = Callable[[], Records | None]

MAX_WORKERS = 4
MIN_SHARE = 500  # fewer workflows than this per process are not worth a process
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SCAN_NICENESS = 10


def worker_count(workflow_count: int) -> int:
    """How many processes to scan this many workflows with: one per core, within reason."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_WORKERS, workflow_count // MIN_SHARE))


class FirstScan:
    """A scan under way in forked processes; call it to wait for the records (None if it
    failed), `again()` for a scan begun now, `close()` to let the processes go."""

    def __init__(self, settings: Settings, names: list[str], *, deferred: bool = False) -> None:
        self.settings = settings
        self.agents_dir = settings.agents_dir.absolute()
        self.workers = worker_count(len(names))
        # A fork copies this small process as it is now: no NiceGUI, no threads yet.
        self._executor = fork_pool(self.workers)
        # Deferred (a restart with a stored list): nothing scans until asked, so the import
        # and the watches have the cores; the list served first is the stored one.
        self._names = names
        self._first = None if deferred else self._submit(names)
        self.events: WatchEvents | None = None  # the watch, when it was started here

    def _submit(self, names: list[str]) -> list[Future[Records]]:
        # Contiguous shares, so the records come back already in order.
        size = max(1, -(-len(names) // self.workers))
        shares = [names[i : i + size] for i in range(0, len(names), size)] or [[]]
        now = time.time()  # one clock for every share, as in a scan made here
        return [
            self._executor.submit(
                workflows.scan_records,
                self.agents_dir,
                names=share,
                now=now,
                github_repo=self.settings.github_repo,
                running_window=self.settings.stall_after_s,
            )
            for share in shares
        ]

    def __call__(self) -> Records | None:
        if self._first is None:  # deferred, and yet wanted (the stored list was unusable)
            self._first = self._submit(self._names)
        return _joined(self._first)

    @property
    def deferred(self) -> bool:
        """No first scan was begun: `again()` is the only one to wait for."""
        return self._first is None

    def again(self) -> Scanned:
        """Scan the whole dir again (as it is now) in the same processes."""
        try:
            futures = self._submit(sorted(workflows.workflow_ids(self.agents_dir)))
        except Exception as error:  # the pool broke: the caller scans by itself
            log.warning("[STARTUP] cannot scan again in the scan processes (%r)", error)
            return lambda: None
        return lambda: _joined(futures)

    def take_events(self) -> WatchEvents | None:
        """The watch started here, handed over (it is the taker's to close from then on)."""
        events, self.events = self.events, None
        return events

    def close(self) -> None:
        """The processes exit once their work is done; a watch nobody took stops."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        if (events := self.take_events()) is not None:
            events.close()


def fork_pool(workers: int) -> ProcessPoolExecutor:
    """Forked worker processes that end with this one, even when it is killed."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=start_scan_worker,
        initargs=(os.getpid(),),
    )


def start_scan_worker(parent: int) -> None:
    """A scan process must not outlive a parent that was killed (no `close` then): Linux
    signals it when its parent ends. It also yields the cores to the server. For a pool's
    `initializer`."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os._exit(0)
    # A scan is throughput; the server's event path is latency. Once the port is open the
    # catch-up scan runs beside it on every core, and a write must not wait behind it.
    with contextlib.suppress(OSError):
        os.nice(SCAN_NICENESS)


def _joined(futures: list[Future[Records]]) -> Records | None:
    try:
        return [record for future in futures for record in future.result()]
    except Exception as error:  # a killed child: the server scans by itself instead
        log.warning("[STARTUP] the first scan failed in its process (%r); scanning here", error)
        return None


def start(settings: Settings) -> FirstScan | None:
    """Start scanning `settings.agents_dir` in children, and the watch beside them."""
    if settings.broker or not sys.platform.startswith("linux"):
        return None
    agents_dir: Path = settings.agents_dir.absolute()
    names = sorted(workflows.workflow_ids(agents_dir))
    scan = FirstScan(settings, names, deferred=has_stored_list(settings))
    if agents_dir.is_dir():
        # After the fork, so the scan processes hold no pipe of the watch's.
        scan.events = StagedFileEvents.for_workflows(
            agents_dir, debounce_ms=settings.debounce_ms, step_ms=settings.step_ms
        )
    return scan


def has_stored_list(settings: Settings) -> bool:
    """Whether the store likely holds this dir's last known list (a restart).

    Asked before the server's imports, with the standard library only: an SQLite file is
    looked into (read-only); any other database is taken to hold one, since a wrong guess
    costs only a scan begun a little later.
    """
    # store.database.database_url's rule, repeated: importing that module would load
    # SQLAlchemy and Alembic before the fork, the very cost this module keeps off the path.
    db = settings.database
    if "://" in db and not db.startswith("sqlite:///"):
        return True
    path = Path(db.removeprefix("sqlite:///")).expanduser().absolute()
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as con:
            found = con.execute(
                "SELECT 1 FROM snapshots WHERE source = ? LIMIT 1",
                (str(settings.agents_dir.absolute()),),
            ).fetchone()
    except sqlite3.Error:
        return False
    return found is not None
