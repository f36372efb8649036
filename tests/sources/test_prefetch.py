"""The first scan in a forked child: the same records as a scan here, and a safe fallback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livewatch.demo.writer import AgentsWriter
from livewatch.settings import Settings
from livewatch.sources import prefetch, workflows

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")


def test_the_child_returns_what_a_scan_here_reads(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    for adw_id in ("aaaa1111", "bbbb2222", "cccc3333"):
        agents.write(adw_id)
    (tmp_path / "cccc3333" / "adw_state.json").write_text("{not json")
    first_scan = prefetch.start(Settings(agents_dir=tmp_path, github_repo="acme/app"))
    assert first_scan is not None
    records = first_scan()
    first_scan.close()
    assert records is not None
    here = workflows.scan_records(tmp_path, github_repo="acme/app")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "updated_at"} for r in rs]  # noqa: E731
    assert strip(records) == strip(here)
    assert [r["status"] for r in records][-1] == "error"


def test_a_failed_child_means_none_and_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(*args: object, **kwargs: object) -> list[dict[str, object]]:
        raise MemoryError("the child ran out of memory")

    # The child is a fork of this process, so it runs the patched function.
    monkeypatch.setattr(workflows, "scan_records", crash)
    first_scan = prefetch.start(Settings(agents_dir=tmp_path))
    assert first_scan is not None
    with caplog.at_level(logging.WARNING, logger="livewatch"):
        assert first_scan() is None
        assert first_scan.again()() is None
    first_scan.close()
    assert "scanning here" in caplog.text


def test_a_replica_has_nothing_to_scan(tmp_path: Path) -> None:
    assert prefetch.start(Settings(agents_dir=tmp_path, broker="redis://127.0.0.1:1")) is None


def test_a_large_tree_is_shared_among_the_cores() -> None:
    assert prefetch.worker_count(10) == 1
    assert 1 <= prefetch.worker_count(10_000) <= prefetch.MAX_WORKERS


def test_shares_scanned_apart_join_into_one_ordered_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = AgentsWriter(tmp_path)
    ids = [f"{i:04d}beef" for i in range(7)]
    for adw_id in reversed(ids):
        agents.write(adw_id)
    monkeypatch.setattr(prefetch, "MIN_SHARE", 2)  # 7 workflows: as many shares as cores
    first_scan = prefetch.start(Settings(agents_dir=tmp_path))
    assert first_scan is not None
    records = first_scan()
    assert records is not None
    assert [r["adw_id"] for r in records] == ids
    # The catch-up scan runs in the same processes, on the dir as it is now.
    agents.write(ids[0], issue_number=99)
    agents.write("ffffbeef")
    again = first_scan.again()()
    first_scan.close()
    assert again is not None and [r["adw_id"] for r in again] == [*ids, "ffffbeef"]
    assert again[0]["issue_number"] == 99


def test_the_watch_goes_up_beside_the_scan_and_is_handed_over(tmp_path: Path) -> None:
    AgentsWriter(tmp_path).write("aaaa1111")
    first_scan = prefetch.start(Settings(agents_dir=tmp_path))
    assert first_scan is not None and first_scan.events is not None
    events = first_scan.take_events()
    assert events is not None and first_scan.take_events() is None
    assert events.wait_ready(10)  # up while (or before) the scan's records are taken
    assert first_scan() is not None
    first_scan.close()  # the scan's processes go; the watch is the taker's
    assert events.pid is not None and _alive(events.pid)
    events.close()


def test_a_watch_nobody_took_stops_with_the_scan(tmp_path: Path) -> None:
    first_scan = prefetch.start(Settings(agents_dir=tmp_path))
    assert first_scan is not None and first_scan.events is not None
    pid = first_scan.events.pid
    first_scan.close()
    assert pid is not None
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_the_scan_processes_yield_the_cores_to_the_server(tmp_path: Path) -> None:
    AgentsWriter(tmp_path).write("aaaa1111")
    first_scan = prefetch.start(Settings(agents_dir=tmp_path))
    assert first_scan is not None and first_scan() is not None
    workers = list(first_scan._executor._processes)
    here = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        niceness = {os.getpriority(os.PRIO_PROCESS, pid) for pid in workers}
    finally:
        first_scan.close()
    assert workers and niceness == {min(19, here + prefetch.SCAN_NICENESS)}


def test_the_scan_processes_end_with_a_killed_server(tmp_path: Path) -> None:
    """The processes wait for the catch-up scan; a SIGKILLed server never calls `close`."""
    AgentsWriter(tmp_path).write("aaaa1111")
    server = subprocess.Popen(
        [sys.executable, "-c", KEEP_SCANNING, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    workers = [int(pid) for pid in server.stdout.readline().split()]
    assert workers and all(_alive(pid) for pid in workers)
    server.kill()
    server.wait()
    for _ in range(100):
        if not any(_alive(pid) for pid in workers):
            break
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


# A server that scanned, says its scan processes' pids, and waits to be killed.
KEEP_SCANNING = """
import sys, time
from pathlib import Path
from livewatch.settings import Settings
from livewatch.sources import prefetch
scan = prefetch.start(Settings(agents_dir=Path(sys.argv[1])))
scan()
print(*scan._executor._processes, flush=True)
time.sleep(60)
"""


def test_a_restart_with_a_stored_list_scans_only_once_the_watches_are_up(tmp_path: Path) -> None:
    """The stored list is served first: scanning before the port opens would only take the
    cores from the import and the watches (it was twice the start-up time at 10,000)."""
    from livewatch.store.database import database_url, migrate, open_engine
    from livewatch.store.snapshots import SnapshotStore

    agents = AgentsWriter(tmp_path / "agents")
    agents.write("aaaa1111")
    settings = Settings(agents_dir=tmp_path / "agents", db=str(tmp_path / "lw.db"))
    assert not prefetch.has_stored_list(settings)  # no database yet: a first start

    engine = open_engine(database_url(settings.database))
    migrate(engine)
    store = SnapshotStore(engine, str(settings.agents_dir.absolute()), key=lambda r: r["adw_id"])
    store.save_all(workflows.scan_records(settings.agents_dir))
    store.start()
    assert store.flush_sync()
    store.close()
    engine.dispose()
    assert prefetch.has_stored_list(settings)
    other_dir = settings.model_copy(update={"agents_dir": tmp_path / "elsewhere"})
    assert not prefetch.has_stored_list(other_dir)  # the same file, another dir's list

    first_scan = prefetch.start(settings)
    assert first_scan is not None and first_scan.deferred
    try:
        # Asked for anyway (the stored list proved unusable), it scans then.
        assert [r["adw_id"] for r in first_scan() or []] == ["aaaa1111"]
        assert [r["adw_id"] for r in first_scan.again()() or []] == ["aaaa1111"]
    finally:
        first_scan.close()


def test_another_database_is_taken_to_hold_a_list(tmp_path: Path) -> None:
    url = "postgresql+psycopg://livewatch@127.0.0.1:1/livewatch"
    assert prefetch.has_stored_list(Settings(agents_dir=tmp_path, db=url))
    (tmp_path / "junk.db").write_text("not a database")
    assert not prefetch.has_stored_list(Settings(agents_dir=tmp_path, db=str(tmp_path / "junk.db")))
