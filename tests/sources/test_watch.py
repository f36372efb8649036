"""Watchers: events become hub changes, rescans repair, crashes restart, --app follows edits."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import by_id, recv_json, recv_until
from websockets.asyncio.client import connect

from livewatch.demo.writer import AgentsWriter
from livewatch.hub.hub import Hub
from livewatch.sources import workflows
from livewatch.sources.transcript_feed import TranscriptFeed
from livewatch.sources.watch import WorkflowWatcher
from livewatch.supervision import supervise
from livewatch.testing import LiveServer


def watcher_for(agents: Path, hub: Hub, **options: object) -> WorkflowWatcher:
    return WorkflowWatcher(agents, hub.workflows, **options)  # type: ignore[arg-type]


async def test_the_watcher_applies_only_the_changed_folders(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    agents.write("aaaa1111")
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub)
    watcher.prime()
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        with hub.workflows.subscribe() as changes:
            while watcher.state != "watching":
                await asyncio.sleep(0.01)
            agents.write("bbbb2222")
            batch = await asyncio.wait_for(changes.next_batch(), 5)
            assert [r["adw_id"] for c in batch for r in c.upsert] == ["bbbb2222"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert watcher.state == "stopped"
    assert watcher.events >= 1


async def test_polling_mode_sees_changes_too(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub)
    watcher.force_polling = True
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        while watcher.state != "polling":
            await asyncio.sleep(0.01)
        agents.write("cccc3333")
        for _ in range(100):
            if hub.workflows.get("cccc3333"):
                break
            await asyncio.sleep(0.05)
        assert hub.workflows.get("cccc3333") is not None
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_reconciliation_repairs_what_events_missed(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    agents.write("aaaa1111")
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub)
    watcher.prime()
    # Pretend inotify dropped these: the hub is wrong until a rescan.
    hub.workflows.apply([{"adw_id": "ghost000"}], remove=["aaaa1111"])
    assert await watcher.reconcile() == 2
    assert [r["adw_id"] for r in hub.workflows.records()] == ["aaaa1111"]


async def test_a_pass_is_timed_whole_so_the_next_one_is_spaced_by_its_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first start's scan is done in the scan processes and only joined here; the transcripts
    # read meanwhile are most of the pass. Timed by the join, the next full pass came at once.
    AgentsWriter(tmp_path).write("aaaa1111")
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub)
    watcher.transcripts = TranscriptFeed(tmp_path, hub.events)
    watcher.prime()
    catch_up = watcher.transcripts.catch_up

    async def slow_catch_up() -> int:
        await asyncio.sleep(0.3)
        return await catch_up()

    monkeypatch.setattr(watcher.transcripts, "catch_up", slow_catch_up)
    scanned_elsewhere = hub.workflows.records
    await watcher.reconcile(scanned_elsewhere)
    assert watcher.last_reconcile_s >= 0.3


async def test_supervise_restarts_a_crashed_loop_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[float] = []
    stop = asyncio.Event()

    async def flaky() -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) < 3:
            raise RuntimeError("boom")
        stop.set()

    await asyncio.wait_for(supervise("flaky", flaky, stop, first_delay=0.05), 5)
    assert len(runs) == 3
    assert runs[2] - runs[1] > runs[1] - runs[0]  # the delay grew
    assert "[WATCH] flaky crashed; restarting" in caplog.text


async def test_the_stall_check_wakes_as_the_soonest_workflow_crosses_the_threshold(
    tmp_path: Path,
) -> None:
    agents = AgentsWriter(tmp_path)
    agents.write("aaaa1111")
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub, running_window_s=0.6)
    watcher.prime()
    assert hub.workflows.get("aaaa1111")["status"] == "running"
    assert 0.3 < watcher.seconds_to_next_stall() <= 0.65  # not the 1 s poll it used to be
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        while hub.workflows.get("aaaa1111")["status"] != "stalled":
            await asyncio.sleep(0.01)
        quiet = time.time() - (tmp_path / "aaaa1111" / "adw_state.json").stat().st_mtime
        assert 0.6 <= quiet < 0.6 + 0.4, quiet
        assert watcher.seconds_to_next_stall() == 1.0  # nothing running: the plain poll
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_workflow_the_stall_check_cannot_settle_is_not_reread_in_a_busy_loop(
    tmp_path: Path,
) -> None:
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub, running_window_s=0.1)
    hub.workflows.apply([{"adw_id": "held0000", "status": "running", "updated_at": None}])
    reads: list[set[str]] = []

    async def refresh_that_changes_nothing(ids: set[str], **_: object) -> None:
        reads.append(ids)

    watcher.refresh = refresh_that_changes_nothing  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(watcher._stall_loop(stop, asyncio.Event()))
    await asyncio.sleep(1.6)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert reads and len(reads) <= 2, reads  # at once, then once a second: not every 50 ms


async def test_running_turns_stalled_within_a_second_without_any_file_event(
    tmp_path: Path,
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    # Reconciliation far away: only the stall check can make the change in time.
    server = LiveServer(agents, args=["--stall-after-s", "2", "--reconcile-s", "600"])
    server.start()
    try:
        async with connect(server.ws_url("/ws/workflows")) as ws:
            await recv_json(ws)
            server.agents.write("aaaa1111")
            written = time.time()
            await recv_until(ws, lambda m: by_id(m)["aaaa1111"]["status"] == "running")
            await recv_until(ws, lambda m: by_id(m)["aaaa1111"]["status"] == "stalled", timeout=6)
            after = time.time() - written
            assert 1.9 <= after <= 2.0 + 1.5, after  # as it crosses (slack for load)
            server.agents.write("aaaa1111", issue_number=7)  # the next write: running again
            await recv_until(ws, lambda m: by_id(m)["aaaa1111"]["status"] == "running")
    finally:
        server.stop()


async def test_app_routes_are_introspected_and_follow_edits(tmp_path: Path) -> None:
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    server_py = package / "server.py"
    source = '''
        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/orders")
        def list_orders():
            """All the orders."""
            return []
    '''
    server_py.write_text(textwrap.dedent(source))
    agents = tmp_path / "agents"
    agents.mkdir()
    server = LiveServer(agents, args=["--app", "shop.server:app"], cwd=tmp_path).start()
    try:
        async with connect(server.ws_url("/ws/routes")) as ws:
            first = await recv_json(ws)
            assert [(r["method"], r["path"], r["description"]) for r in first["data"]] == [
                ("GET", "/orders", "All the orders.")
            ]
            added = '''

                @app.post("/orders")
                def create_order():
                    """Place an order."""
                    return {}
            '''
            server_py.write_text(server_py.read_text() + textwrap.dedent(added))
            message = await recv_until(ws, lambda m: len(m["data"]) == 2, timeout=15)
            assert {r["handler"] for r in message["data"]} == {"list_orders", "create_order"}
    finally:
        server.stop()


async def test_a_torn_write_is_read_again_and_heals(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    state = agents.write("aaaa1111")
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub)
    watcher.prime()
    whole = state.read_text()
    state.write_text(whole[: len(whole) // 2])  # the writer is caught half-way
    await watcher.refresh({"aaaa1111"})
    record = hub.workflows.get("aaaa1111")
    assert record is not None and record["status"] == "error"
    # The writer finishes without the watcher hearing of it: the retry still heals it.
    state.write_text(whole)
    for _ in range(40):
        await asyncio.sleep(0.05)
        if hub.workflows.get("aaaa1111")["status"] != "error":  # type: ignore[index]
            break
    assert hub.workflows.get("aaaa1111")["error"] is None  # type: ignore[index]


async def test_a_rescan_never_undoes_a_change_made_while_it_ran(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    agents.write("aaaa1111", issue_number=1)
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub)
    watcher.prime()
    read_before_the_write = workflows.scan_records(tmp_path)
    scanned = threading.Event()

    def slow_scan() -> list[dict[str, object]]:
        scanned.wait(5)
        return read_before_the_write

    rescan = asyncio.create_task(watcher.reconcile(slow_scan))
    await asyncio.sleep(0.05)  # the rescan is under way
    agents.write("aaaa1111", issue_number=2)
    await watcher.refresh({"aaaa1111"})  # the event path reads the write meanwhile
    scanned.set()
    await rescan
    assert hub.workflows.get("aaaa1111")["issue_number"] == 2  # type: ignore[index]


async def test_writes_before_the_watches_are_up_are_caught_up(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    agents.write("aaaa1111", issue_number=1)
    first_scan = workflows.scan_records(tmp_path)  # made in other processes, before the watch
    agents.write("aaaa1111", issue_number=2)  # written after that scan, with nothing watching
    agents.write("bbbb2222")
    hub = Hub.create()
    watcher = watcher_for(tmp_path, hub)
    watcher.prime(lambda: first_scan, watch=True)
    assert hub.workflows.get("aaaa1111")["issue_number"] == 1  # type: ignore[index]
    assert hub.workflows.get("bbbb2222") is None
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        for _ in range(100):
            record = hub.workflows.get("aaaa1111")
            if record and record["issue_number"] == 2 and hub.workflows.get("bbbb2222"):
                break
            await asyncio.sleep(0.05)
        assert hub.workflows.get("aaaa1111")["issue_number"] == 2  # type: ignore[index]
        assert hub.workflows.get("bbbb2222") is not None
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def test_a_new_workflow_folder_is_read_again_in_case_a_write_beat_its_watch(
    tmp_path: Path,
) -> None:
    """inotify watches a new folder only once the watch process added a watch on it: a state
    file renamed in before that brings no event, so a new folder is read again later."""
    import watchfiles

    watcher = watcher_for(tmp_path, Hub.create())
    root = str(tmp_path)
    changes = {
        (watchfiles.Change.added, f"{root}/a1b2c3d4"),  # a workflow folder appeared
        (watchfiles.Change.added, f"{root}/a1b2c3d4/adw_state.json"),  # a file: no
        (watchfiles.Change.added, f"{root}/e5f6a7b8/sdlc_planner"),  # deeper: no
        (watchfiles.Change.modified, f"{root}/c9d0e1f2"),  # not new: no
        (watchfiles.Change.added, f"{root}/.tmp"),  # not a workflow id: no
    }
    assert watcher.new_folders(changes) == {"a1b2c3d4"}


def result_line(cost: float) -> dict[str, object]:
    return {"type": "result", "subtype": "success", "is_error": False, "num_turns": 3,
            "duration_ms": 1000, "total_cost_usd": cost}  # fmt: skip


async def watching_with_transcripts(
    agents_dir: Path, hub: Hub
) -> tuple[WorkflowWatcher, asyncio.Event, asyncio.Task[None]]:
    """A watcher wired to a transcript feed, as the runtime wires them; started and verified."""
    watcher = watcher_for(agents_dir, hub)
    watcher.transcripts = TranscriptFeed(agents_dir, hub.events)
    hub.events.observe(watcher.note_events)
    watcher.prime()
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    while watcher.state != "watching":
        await asyncio.sleep(0.01)
    return watcher, stop, task


async def test_a_result_line_brings_its_workflow_up_to_date_within_a_second(
    tmp_path: Path,
) -> None:
    agents = AgentsWriter(tmp_path)
    agents.write("aaaa1111")
    agents.stream("aaaa1111", "sdlc_planner", [{"type": "system", "subtype": "init"}])
    hub = Hub.create()
    _, stop, task = await watching_with_transcripts(tmp_path, hub)
    try:
        agents.stream("aaaa1111", "sdlc_planner", [result_line(0.42)])
        written = time.monotonic()
        while (hub.workflows.get("aaaa1111") or {}).get("cost_usd") != 0.42:
            # 1 s is the bound; 4 s leaves a loaded machine room, and is still short of the
            # 5 s a workflow whose transcript only grew waits.
            assert time.monotonic() - written < 4.0, "not within the 1 s re-read (5 s is growth's)"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_result_lines_caught_up_at_start_do_not_re_read_their_workflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = AgentsWriter(tmp_path)
    ids = [f"f{n:07d}" for n in range(20)]
    for adw_id in ids:
        agents.write(adw_id)
        agents.stream(adw_id, "sdlc_planner", [result_line(0.1)])
    reads: list[Path] = []
    read_workflow = workflows.read_workflow
    monkeypatch.setattr(
        workflows,
        "read_workflow",
        lambda folder, **kw: reads.append(folder) or read_workflow(folder, **kw),
    )
    hub = Hub.create()
    _, stop, task = await watching_with_transcripts(tmp_path, hub)
    try:
        reads.clear()  # the start's own scans are not counted
        await asyncio.sleep(1.5)  # results are re-read within a second
        # The start's scan read every workflow after their transcripts were caught up: a
        # re-read of each (10,000 at once on a large tree) would be work done twice.
        assert reads == []
        assert all(r["cost_usd"] == 0.1 for r in hub.workflows.records())
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
