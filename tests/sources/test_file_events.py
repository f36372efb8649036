"""FileEvents: watchfiles in a child process, batches in the event loop, a prompt clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from livewatch.sources.file_events import FileEvents, WatchProcessError
from livewatch.sources.watch_child import TIMEOUT_MS


def events_on(path: Path) -> FileEvents:
    return FileEvents(path, debounce_ms=200, step_ms=8).start()


async def next_batch(events: FileEvents, timeout: float = 5.0) -> set[tuple[object, str]]:
    return await asyncio.wait_for(anext(aiter(events)), timeout)


async def test_a_write_after_ready_arrives_as_one_batch(tmp_path: Path) -> None:
    events = events_on(tmp_path)
    try:
        await events.ready()
        (tmp_path / "adw_state.json").write_text("{}")
        batch = await next_batch(events)
        assert {Path(path).name for _, path in batch} == {"adw_state.json"}
    finally:
        events.close()


async def test_watches_started_before_the_loop_keep_what_they_saw(tmp_path: Path) -> None:
    events = events_on(tmp_path)
    # No loop has attached yet: this is how the server starts them, before `ui.run`.
    assert await asyncio.to_thread(events.wait_ready, 10)
    (tmp_path / "early.log").write_text("written before anyone listened")
    await asyncio.sleep(0.3)
    try:
        batch = await next_batch(events)
        assert {Path(path).name for _, path in batch} == {"early.log"}
    finally:
        events.close()


async def test_close_ends_the_iteration_and_the_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())  # objects, not idents: an ident can be reused
    events = events_on(tmp_path)
    await events.ready()
    new = [t for t in threading.enumerate() if t not in before]
    (thread,) = [t for t in new if t.name == "livewatch-file-events"]

    async def consume() -> int:
        return sum([len(batch) async for batch in events])

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    events.close()
    assert await asyncio.wait_for(consumer, 1) == 0
    await asyncio.to_thread(thread.join, 2)
    assert not thread.is_alive()
    # It looks at its stop flag on each timeout: the stop is that quick.
    assert time.monotonic() - started < 1 + TIMEOUT_MS / 1000


async def test_a_missing_path_fails_in_ready(tmp_path: Path) -> None:
    events = events_on(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        await asyncio.wait_for(events.ready(), 10)
    events.close()


async def test_a_watch_process_that_dies_is_an_error_not_silence(tmp_path: Path) -> None:
    events = events_on(tmp_path)
    await events.ready()
    assert events.pid is not None
    os.kill(events.pid, signal.SIGKILL)
    with pytest.raises(WatchProcessError, match="exited"):
        await next_batch(events)
    events.close()


def test_the_watch_process_ends_when_its_server_is_killed(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    child = int(server.stdout.readline())
    server.kill()
    server.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(child):
        time.sleep(0.05)
    assert not _running(child)


ORPHAN_SCRIPT = """
import sys, time
from pathlib import Path
from livewatch.sources.file_events import FileEvents, WatchProcessError
events = FileEvents(Path(sys.argv[1]), debounce_ms=200, step_ms=8).start()
assert events.wait_ready(30)
print(events.pid, flush=True)
time.sleep(60)
"""


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (orphans are reaped by whoever adopts them)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


class Appender:
    """An agent appending to its transcript every 5 ms, in a thread, until stopped."""

    def __init__(self, transcript: Path) -> None:
        transcript.parent.mkdir(parents=True)
        self.transcript = transcript
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._append)

    def _append(self) -> None:
        with self.transcript.open("a") as out:
            while not self.stopping.wait(0.005):
                out.write('{"type":"assistant"}\n')
                out.flush()

    def __enter__(self) -> Appender:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()


async def test_a_state_change_is_not_held_behind_a_transcript_stream(tmp_path: Path) -> None:
    # Transcript changes gather a whole second here; the state file must not wait for them.
    events = FileEvents.for_workflows(tmp_path, debounce_ms=1000, step_ms=8)
    try:
        await events.ready()
        with Appender(tmp_path / "abcd1234" / "sdlc_planner" / "raw_output.jsonl"):
            await asyncio.sleep(0.3)
            written = time.monotonic()
            (tmp_path / "abcd1234" / "adw_state.json").write_text("{}")
            names: set[str] = set()
            while "adw_state.json" not in names:
                names = {Path(path).name for _, path in await next_batch(events)}
            assert time.monotonic() - written < 0.5
            # Meanwhile the transcript's changes came paced: about one batch a second.
            started, batches = time.monotonic(), 0
            while time.monotonic() - started < 2.0:
                with contextlib.suppress(TimeoutError):
                    await next_batch(events, timeout=0.2)
                    batches += 1
            assert 1 <= batches <= 4
    finally:
        events.close()


async def test_a_lone_transcript_line_after_a_quiet_spell_goes_at_once(tmp_path: Path) -> None:
    transcript = tmp_path / "abcd1234" / "sdlc_planner" / "raw_output.jsonl"
    transcript.parent.mkdir(parents=True)
    events = FileEvents.for_workflows(tmp_path, debounce_ms=1000, step_ms=8)
    try:
        await events.ready()
        await asyncio.sleep(0.2)
        written = time.monotonic()
        transcript.write_text('{"type":"result"}\n')
        batch = await next_batch(events)
        assert {Path(path).name for _, path in batch} == {"raw_output.jsonl"}
        assert time.monotonic() - written < 0.5  # not the second it would gather in a stream
    finally:
        events.close()
