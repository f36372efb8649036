"""The first scan, started in a forked process before the server's heavy imports.

Importing NiceGUI (about 0.8 s) and setting up the inotify watches (about 1 s for 10,000
workflows, holding the GIL) leave one core busy and the other idle; the first scan (about
1.8 s) takes the idle one. Where `fork` is not the way to start processes (macOS, Windows)
or the workflows come from a broker, there is nothing to start and the server scans itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from livewatch import workflows
from livewatch.settings import Settings

log = logging.getLogger("livewatch")

FirstScan = Callable[[], list[dict[str, object]] | None]


def start(settings: Settings) -> FirstScan | None:
    """Start scanning `settings.agents_dir` in a child; returns how to wait for its records."""
    if settings.broker or not sys.platform.startswith("linux"):
        return None
    # A fork copies this small process as it is now: no NiceGUI, no threads yet.
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    future = executor.submit(
        workflows.scan_records,
        settings.agents_dir.absolute(),
        github_repo=settings.github_repo,
        running_window=settings.running_window_s,
    )
    executor.shutdown(wait=False)  # the child exits once this one scan is done

    def result() -> list[dict[str, object]] | None:
        try:
            return future.result()
        except Exception as error:  # a killed child: the server scans by itself instead
            log.warning("[STARTUP] the first scan failed in its process (%r); scanning here", error)
            return None

    return result
