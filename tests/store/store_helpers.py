"""Helpers for the store's tests: events to write, and polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from livewatch.hub.events import Event, new_event

BASE_TS = time.time_ns() // 1_000_000  # recent: the default retention keeps them


def event(seq: int, **fields: Any) -> Event:
    """A transcript event numbered `seq`; `fields` override the defaults."""
    defaults: dict[str, Any] = {
        "seq": seq,
        "ts": BASE_TS + seq,
        "source": "file",
        "adw_id": "wf1",
        "agent": "planner",
        "kind": "message",
        "summary": f"event {seq}",
        "payload": f'{{"n": {seq}}}',
        "origin": f"file:wf1/planner@{seq * 100}",
    }
    return new_event(**{**defaults, **fields})


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
