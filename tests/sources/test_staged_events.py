"""The start-up watch in two stages: workflow folders at once, the whole tree once it is up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from livewatch.demo.writer import AgentsWriter
from livewatch.sources.file_events import FileEvents
from livewatch.sources.staged_events import StagedFileEvents

OPTIONS = {"debounce_ms": 200, "step_ms": 8}


def shallow_on(agents: Path) -> FileEvents:
    return FileEvents.for_workflows(agents, shallow=True, **OPTIONS)


async def names_until(events: FileEvents | StagedFileEvents, wanted: str) -> set[str]:
    """The file names of the batches that came until one named `wanted`."""
    seen: set[str] = set()
    async with asyncio.timeout(10):
        async for batch in events:
            seen |= {Path(path).name for _, path in batch}
            if wanted in seen:
                return seen
    return seen


async def test_the_shallow_stage_sees_workflow_folders_and_new_workflows(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    agents.write("aaaa1111")
    agents.stream("aaaa1111", "sdlc_planner", [{"type": "system", "subtype": "init"}])
    events = shallow_on(tmp_path)
    try:
        await events.ready()
        agents.stream("aaaa1111", "sdlc_planner", [{"type": "system", "subtype": "init"}])
        agents.write("aaaa1111", issue_number=2)
        seen = await names_until(events, "adw_state.json")
        assert "raw_output.jsonl" not in seen  # an agent folder is the full watch's
        (tmp_path / "bbbb2222").mkdir()  # a new workflow: its folder is watched once seen
        await names_until(events, "bbbb2222")
        agents.write("bbbb2222", issue_number=3)
        assert "adw_state.json" in await names_until(events, "adw_state.json")
    finally:
        events.close()


async def test_writes_flow_before_the_full_watch_is_up(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path)
    agents.write("aaaa1111")
    init = [{"type": "system", "subtype": "init"}]
    agents.stream("aaaa1111", "sdlc_planner", init)
    # The full watch is held back: on a large tree it takes seconds to go up.
    full = FileEvents(tmp_path, **OPTIONS)
    staged = StagedFileEvents(shallow_on(tmp_path), full)
    try:
        assert await asyncio.to_thread(staged.wait_ready, 10)
        agents.write("aaaa1111", issue_number=2)
        assert "adw_state.json" in await names_until(staged, "adw_state.json")
        full.start()
        await staged.ready()
        await asyncio.to_thread(staged.shallow._thread.join, 5)  # the first stage stopped
        assert not staged.shallow._thread.is_alive()
        agents.stream("aaaa1111", "sdlc_planner", init)  # deeper: the full watch's now
        assert "raw_output.jsonl" in await names_until(staged, "raw_output.jsonl")
    finally:
        staged.close()


async def test_a_failed_first_stage_leaves_the_wait_to_the_full_watch(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    staged = StagedFileEvents(shallow_on(missing), FileEvents.for_workflows(tmp_path, **OPTIONS))
    try:
        assert await asyncio.to_thread(staged.wait_ready, 10)
        assert staged.shallow.failed and staged.full.wait_ready(0)
    finally:
        staged.close()
