"""What `/healthz` reports: the watchers' states, who is connected, and how fresh things are."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livewatch.runtime import Runtime

# A watcher in one of these states is doing its job; "polling" is slower but still right,
# and "verifying" follows every change while a scan checks the list it started from.
HEALTHY_STATES = {"watching", "polling", "waiting", "verifying"}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def health(rt: Runtime, started_at: float) -> tuple[bool, dict[str, Any]]:
    """The report, and whether it is healthy (200) or not (503)."""
    wf, routes, hub = rt.workflow_watcher, rt.routes_watcher, rt.hub
    healthy = wf.state in HEALTHY_STATES and routes.state == "watching"
    # Behind a broker, a replica that lost Redis still serves its last state: still 200 (so a
    # load balancer keeps it), but "degraded".
    in_touch = rt.broker_state in (None, "connected")
    report = {
        "status": ("ok" if in_touch else "degraded") if healthy else "unhealthy",
        "watchers": {
            "workflows": {
                "state": wf.state,
                "mode": "polling" if wf.force_polling else "inotify",
                "events": wf.events,
                "corrections": wf.corrections,
                "last_event": _iso(wf.last_event_ts),
            },
            "routes": {"state": routes.state, "error": routes.last_error},
        },
        "clients": {
            "workflows": hub.workflows.subscriber_count,
            "routes": hub.routes.subscriber_count,
            "events": hub.events.subscriber_count,
        },
        # The store is "degraded" while it cannot write: the live dashboard goes on from
        # memory, and history resumes when the database is back.
        "db": _db_state(rt),
        "history": rt.history.status() if rt.history is not None else None,
        "alerts": rt.alerts.status() if rt.alerts is not None else None,
        "events": {
            "seq": hub.events.seq,
            "last_event": _iso(hub.events.last_event_ts),
            "store": rt.event_store.status() if rt.event_store is not None else None,
        },
        "workflows": len(hub.workflows),
        # True while the list served may still lag the disk: the last known records (or a
        # scan begun before the watches were up) until a scan begun after them checked it.
        "verifying": rt.verifying,
        "routes": len(hub.routes),
        "last_change": _iso(hub.workflows.last_change_ts),
        "uptime_s": round(time.time() - started_at, 1),
        "process": _process(),
    }
    if (describe_broker := getattr(wf, "describe", None)) is not None:
        report["broker"] = describe_broker()
    return healthy, report


def _process() -> dict[str, int | None]:
    """Leak indicators: tasks, open files and memory of this process, and the objects
    start-up left out of the cycle collector's sight (`gc_frozen`)."""
    try:
        fds = len(os.listdir("/proc/self/fd"))
        rss = next(
            int(line.split()[1]) * 1024
            for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
    except (OSError, StopIteration):
        fds = rss = None  # not Linux: report what we can
    return {
        "tasks": len(asyncio.all_tasks()),
        "fds": fds,
        "rss_bytes": rss,
        "gc_frozen": gc.get_freeze_count(),
    }


def _db_state(rt: Runtime) -> str:
    """ "degraded" while any user of the database (events, history, alerts) cannot use it."""
    if rt.event_store is None:
        return "off"
    states = {
        rt.event_store.state,
        rt.history.store.state if rt.history is not None else "ok",
        rt.alerts.state if rt.alerts is not None else "ok",
    }
    return "degraded" if "degraded" in states else "ok"
