"""The first scan, split over forked processes started before the server's heavy imports.

Reading 10,000 workflow folders takes about 1.7 s in one process, and about half of that in
two (the reads are per folder, with no shared state): so the scan runs on every core while
this process imports NiceGUI. Where `fork` is not the way to start processes (macOS,
Windows) or the workflows come from a broker, nothing starts and the server scans itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from livewatch.settings import Settings
from livewatch.sources import workflows

log = logging.getLogger("livewatch")

FirstScan = Callable[[], list[dict[str, object]] | None]

MAX_WORKERS = 4
MIN_SHARE = 500  # fewer workflows than this per process are not worth a process


def worker_count(workflow_count: int) -> int:
    """How many processes to scan this many workflows with: one per core, within reason."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_WORKERS, workflow_count // MIN_SHARE))


def start(settings: Settings) -> FirstScan | None:
    """Start scanning `settings.agents_dir` in children; returns how to wait for the records."""
    if settings.broker or not sys.platform.startswith("linux"):
        return None
    agents_dir = settings.agents_dir.absolute()
    names = sorted(workflows.workflow_ids(agents_dir))
    workers = worker_count(len(names))
    # Contiguous shares, so the records come back already in order.
    size = max(1, -(-len(names) // workers))
    shares = [names[i : i + size] for i in range(0, len(names), size)] or [[]]
    # A fork copies this small process as it is now: no NiceGUI, no threads yet.
    executor = ProcessPoolExecutor(len(shares), mp_context=multiprocessing.get_context("fork"))
    now = time.time()  # one clock for every share, as in a scan made here
    futures = [
        executor.submit(
            workflows.scan_records,
            agents_dir,
            names=share,
            now=now,
            github_repo=settings.github_repo,
            running_window=settings.stall_after_s,
        )
        for share in shares
    ]
    executor.shutdown(wait=False)  # the children exit once their share is done

    def result() -> list[dict[str, object]] | None:
        try:
            return [record for future in futures for record in future.result()]
        except Exception as error:  # a killed child: the server scans by itself instead
            log.warning("[STARTUP] the first scan failed in its process (%r); scanning here", error)
            return None

    return result
