"""When the kernel's inotify watches run out, the watcher polls instead, says so, and keeps up.

This lowers `fs.inotify.max_user_watches` for the length of the test, so it needs root and a
writable /proc/sys (CI has both); elsewhere it skips.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from livewatch.testing import LiveServer

WATCH_LIMIT = Path("/proc/sys/fs/inotify/max_user_watches")


@pytest.fixture
def few_inotify_watches() -> None:
    if os.geteuid() != 0 or not os.access(WATCH_LIMIT, os.W_OK):
        pytest.skip("needs root and a writable /proc/sys to lower the inotify watch limit")
    original = WATCH_LIMIT.read_text()
    WATCH_LIMIT.write_text("8\n")
    try:
        yield
    finally:
        WATCH_LIMIT.write_text(original)


def test_exhausted_inotify_falls_back_to_polling(tmp_path: Path, few_inotify_watches: None) -> None:
    agents = tmp_path / "agents"
    server = LiveServer(agents)
    for i in range(30):  # more folders than watches
        server.agents.write(f"many{i:04d}")
        server.agents.enter_phase(f"many{i:04d}", "plan")
    server.start()
    try:
        deadline = time.monotonic() + 15
        while server.get("/healthz").json()["watchers"]["workflows"]["mode"] != "polling":
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        assert "[WATCH] inotify limit reached" in server.log()
        assert server.get("/healthz").status_code == 200  # slower, but still right

        server.agents.write("late0001", issue_number=5)
        while not any(w["adw_id"] == "late0001" for w in server.get("/api/workflows").json()):
            assert time.monotonic() < deadline + 10, "polling never saw the new workflow"
            time.sleep(0.1)
    finally:
        server.stop()
