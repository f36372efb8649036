"""Following raw_output.jsonl files as agents write them: only new bytes, never a block."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from livewatch.hub.events import Event
from livewatch.sources import transcript_follower as follower_module
from livewatch.sources.transcript_follower import (
    TAIL_EVENTS,
    TranscriptFollower,
    TranscriptTracker,
)

NOW = 1_700_000_000_000
MIB = 1024 * 1024


def text_line(text: str) -> bytes:
    block = {"type": "text", "text": text}
    message = {"id": f"msg_{text}", "content": [block], "usage": {"input_tokens": 1}}
    return json.dumps({"type": "assistant", "message": message}).encode() + b"\n"


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as file:
        file.write(data)


def summaries(events: list[Event]) -> list[str]:
    return [e["summary"] for e in events]


def transcript(root: Path, adw_id: str = "adw1", agent: str = "sdlc_planner") -> Path:
    folder = root / adw_id / agent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "raw_output.jsonl"
    path.touch()
    return path


def rchar() -> int:
    """Bytes this process has read through read(2)-like calls (Linux /proc/self/io)."""
    for row in Path("/proc/self/io").read_text().splitlines():
        if row.startswith("rchar:"):
            return int(row.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def read_in_thread(follower: TranscriptFollower, timeout: float = 5.0) -> list[Event]:
    """`follower.read`, failing the test instead of hanging if it ever blocks."""
    result: list[list[Event]] = []
    worker = threading.Thread(target=lambda: result.append(follower.read(NOW)), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "read() blocked"
    return result[0]


# --- appending --------------------------------------------------------------------------------


def test_appended_lines_become_events_with_their_byte_offsets(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    follower = TranscriptFollower(path, "adw1", "sdlc_planner")
    assert follower.read(NOW) == []
    first, second = text_line("one"), text_line("two")
    append(path, first + second)
    events = follower.read(NOW)
    assert summaries(events) == ["one", "two"]
    assert [e["origin"] for e in events] == [
        "file:adw1/sdlc_planner@0",
        f"file:adw1/sdlc_planner@{len(first)}",
    ]
    assert {e["ts"] for e in events} == {NOW}
    assert follower.read(NOW) == []  # nothing new, nothing again
    assert follower.state == (os.stat(path).st_ino, len(first) + len(second))


def test_a_partial_line_is_held_until_its_newline_arrives(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    follower = TranscriptFollower(path, "adw1", "a")
    line = text_line("slow writer")
    append(path, line[:25])
    assert follower.read(NOW) == []
    assert follower.state == (os.stat(path).st_ino, 0)  # a restart must re-read the line
    append(path, line[25:-1])
    assert follower.read(NOW) == []
    append(path, b"\n")
    events = follower.read(NOW)
    assert summaries(events) == ["slow writer"]
    assert events[0]["origin"] == "file:adw1/a@0"
    assert follower.state == (os.stat(path).st_ino, len(line))


def test_appending_one_kilobyte_to_a_big_file_reads_about_one_kilobyte(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    block = b"".join(text_line(f"line {n}") for n in range(1000))
    with path.open("ab") as file:
        for _ in range(50 * MIB // len(block)):
            file.write(block)
    follower = TranscriptFollower(path, "adw1", "a")
    before = rchar()
    assert len(follower.read(NOW)) == TAIL_EVENTS
    first_read = rchar() - before
    assert first_read < 1 * MIB  # the tail only, not 50 MB of history

    new_lines = b"".join(text_line(f"new {n}") for n in range(8))
    assert 900 < len(new_lines) < 1200
    append(path, new_lines)
    before = rchar()
    events = follower.read(NOW)
    cost = rchar() - before
    assert summaries(events) == [f"new {n}" for n in range(8)]
    assert cost < 64 * 1024


def test_bytes_that_are_not_utf8_are_still_parsed(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    follower = TranscriptFollower(path, "adw1", "a")
    append(path, text_line("caf_").replace(b"caf_", b"caf\xff\xfe"))
    assert summaries(follower.read(NOW)) == ["caf\ufffd\ufffd"]


# --- first sight and restarts -----------------------------------------------------------------


def test_first_sight_of_a_long_transcript_keeps_only_its_last_300_events(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    append(path, b"".join(text_line(f"line {n}") for n in range(1, 10_001)))
    events = TranscriptFollower(path, "adw1", "a").read(NOW)
    assert summaries(events) == [f"line {n}" for n in range(9_701, 10_001)]


def test_the_tail_starts_at_a_whole_line_never_mid_line(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    lines = [text_line(f"line {n}") for n in range(100)]
    append(path, b"".join(lines))
    follower = TranscriptFollower(path, "adw1", "a", tail_bytes=len(lines[-1]) * 3 + 5)
    events = follower.read(NOW)
    assert summaries(events) == ["line 97", "line 98", "line 99"]  # no error for a cut line
    # The same, when the tail starts exactly at a line: the line is kept.
    exact = TranscriptFollower(path, "adw1", "a", tail_bytes=len(lines[-1]) * 2)
    assert summaries(exact.read(NOW)) == ["line 98", "line 99"]


def test_resuming_from_a_saved_state_gives_no_duplicates_and_no_gaps(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    append(path, b"".join(text_line(f"line {n}") for n in range(50)))
    before_restart = TranscriptFollower(path, "adw1", "a")
    seen = before_restart.read(NOW)
    append(path, text_line("line 50")[:10])  # a line half written when the process stopped
    seen += before_restart.read(NOW)
    saved = before_restart.state
    assert saved is not None

    append(
        path, text_line("line 50")[10:] + b"".join(text_line(f"line {n}") for n in range(51, 80))
    )
    after_restart = TranscriptFollower(path, "adw1", "a", resume=saved)
    assert after_restart.state == saved  # still reported before the first read
    seen += after_restart.read(NOW)
    assert summaries(seen) == [f"line {n}" for n in range(80)]
    origins = [e["origin"] for e in seen]
    assert len(set(origins)) == len(origins)


def test_a_saved_state_for_another_file_is_not_trusted(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    append(path, text_line("fresh"))
    stale = (os.stat(path).st_ino + 1, 10)
    assert summaries(TranscriptFollower(path, "adw1", "a", resume=stale).read(NOW)) == ["fresh"]


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    follower = TranscriptFollower(path, "adw1", "a")
    append(path, text_line("old run, first") + text_line("old run, second"))
    assert len(follower.read(NOW)) == 2
    path.write_bytes(text_line("new run"))  # truncates in place: same inode, smaller
    events = follower.read(NOW)
    assert summaries(events) == ["new run"]
    assert events[0]["origin"] == "file:adw1/a@0"


def test_a_replaced_file_is_read_from_its_start(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    follower = TranscriptFollower(path, "adw1", "a")
    append(path, text_line("old run"))
    assert summaries(follower.read(NOW)) == ["old run"]
    replacement = path.with_name("raw_output.jsonl.new")
    replacement.write_bytes(text_line("new run, first") + text_line("new run, second") * 3)
    os.replace(replacement, path)
    assert summaries(follower.read(NOW)) == ["new run, first"] + ["new run, second"] * 3
    assert follower.state == (os.stat(path).st_ino, path.stat().st_size)


# --- hostile files ----------------------------------------------------------------------------


def test_a_50_mb_line_is_skipped_with_one_error_and_memory_stays_small(tmp_path: Path) -> None:
    path = transcript(tmp_path)
    follower = TranscriptFollower(path, "adw1", "a")
    append(path, text_line("before"))
    assert summaries(follower.read(NOW)) == ["before"]
    start = path.stat().st_size
    with path.open("ab") as file:
        for _ in range(30):
            file.write(b"x" * MIB)
    tracemalloc.start()
    try:
        events = follower.read(NOW)  # 30 MB so far, no newline yet
        with path.open("ab") as file:
            for _ in range(20):
                file.write(b"x" * MIB)
            file.write(b"\n" + text_line("after"))
        events += follower.read(NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summaries(events) == [f"line over 1 MiB skipped at byte {start}", "after"]
    assert events[0]["kind"] == "error" and events[0]["is_error"] is True
    assert events[0]["origin"] == f"file:adw1/a@{start}"
    assert peak < 8 * MIB


def test_a_fifo_is_reported_once_and_never_blocks(tmp_path: Path) -> None:
    folder = tmp_path / "adw1" / "a"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "raw_output.jsonl")
    follower = TranscriptFollower(folder / "raw_output.jsonl", "adw1", "a")
    events = read_in_thread(follower)
    assert summaries(events) == ["raw_output.jsonl is a FIFO; not read"]
    assert events[0]["kind"] == "error" and events[0]["is_error"] is True
    assert read_in_thread(follower) == []  # said once, not on every read


def test_a_symlink_is_reported_and_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.jsonl"
    secret.write_bytes(text_line("not for us"))
    folder = tmp_path / "adw1" / "a"
    folder.mkdir(parents=True)
    (folder / "raw_output.jsonl").symlink_to(secret)
    follower = TranscriptFollower(folder / "raw_output.jsonl", "adw1", "a")
    assert summaries(read_in_thread(follower)) == [
        "raw_output.jsonl is a symlink; symlinks are not followed"
    ]
    assert read_in_thread(follower) == []


def test_a_socket_or_a_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "adw1" / "a"
    folder.mkdir(parents=True)
    path = folder / "raw_output.jsonl"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        assert summaries(read_in_thread(TranscriptFollower(path, "adw1", "a"))) == [
            "raw_output.jsonl is a socket; not read"
        ]
    finally:
        server.close()
    path.unlink()
    path.mkdir()
    assert summaries(read_in_thread(TranscriptFollower(path, "adw1", "a"))) == [
        "raw_output.jsonl is a directory; not read"
    ]


def test_a_missing_file_reads_as_nothing(tmp_path: Path) -> None:
    follower = TranscriptFollower(tmp_path / "adw1" / "a" / "raw_output.jsonl", "adw1", "a")
    assert follower.read(NOW) == []
    assert follower.state is None


# --- the tracker ------------------------------------------------------------------------------


def test_the_tracker_discovers_transcripts_two_levels_down_only(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    planner = transcript(agents, "adw1", "sdlc_planner")
    builder = transcript(agents, "adw2", "sdlc_implementor")
    (agents / "adw1" / "raw_output.jsonl").touch()  # one level: not an agent's
    transcript(agents / "adw1" / "deeper", "x", "y")  # three levels: not an agent's
    transcript(tmp_path / "outside", "adw9", "a")
    (agents / "linked").symlink_to(tmp_path / "outside" / "adw9")  # a symlinked folder
    (agents / "adw2" / "via_link").symlink_to(agents / "adw1" / "sdlc_planner")
    assert TranscriptTracker(agents).discover() == [planner.resolve(), builder.resolve()]


def test_the_tracker_ignores_paths_outside_the_agents_folder(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    inside = transcript(agents, "adw1", "a")
    append(inside, text_line("inside"))
    outside = transcript(tmp_path / "outside", "adw1", "a")
    append(outside, text_line("outside"))
    (agents / "escape").symlink_to(tmp_path / "outside" / "adw1")
    tracker = TranscriptTracker(agents)
    candidates = [
        outside,
        agents / ".." / "outside" / "adw1" / "a" / "raw_output.jsonl",
        agents / "escape" / "a" / "raw_output.jsonl",  # a symlinked folder pointing out
        agents / "adw1" / "a" / "other.jsonl",
        agents / "adw1" / "raw_output.jsonl",
        inside,
    ]
    assert summaries(tracker.read_changed(candidates, NOW)) == ["inside"]
    assert list(tracker.offsets()) == ["adw1/a/raw_output.jsonl"]


def test_tracker_offsets_survive_a_restart_without_duplicates(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    path = transcript(agents, "adw1", "a")
    append(path, text_line("one") + text_line("two"))
    tracker = TranscriptTracker(agents)
    assert summaries(tracker.read_changed(tracker.discover(), NOW)) == ["one", "two"]
    saved = tracker.offsets()
    assert saved == {"adw1/a/raw_output.jsonl": (os.stat(path).st_ino, path.stat().st_size)}

    append(path, text_line("three"))
    restarted = TranscriptTracker(agents)
    restarted.resume({**saved, "../escape/a/raw_output.jsonl": (1, 2), "adw1/b/x": (1, 2)})
    assert restarted.offsets() == saved  # seeded, and only the valid key
    assert summaries(restarted.read_changed(restarted.discover(), NOW)) == ["three"]


def test_a_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    (agents / "adw1" / "a").mkdir(parents=True)
    os.mkfifo(agents / "adw1" / "a" / "raw_output.jsonl")
    good = transcript(agents, "adw2", "b")
    append(good, text_line("still flowing"))
    tracker = TranscriptTracker(agents)
    events = tracker.read_changed(tracker.discover(), NOW)
    assert [(e["adw_id"], e["kind"], e["summary"]) for e in events] == [
        ("adw1", "error", "raw_output.jsonl is a FIFO; not read"),
        ("adw2", "message", "still flowing"),
    ]
    append(good, text_line("more"))
    assert summaries(tracker.read_changed(tracker.discover(), NOW)) == ["more"]


def test_forget_drops_a_deleted_transcript(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    path = transcript(agents, "adw1", "a")
    append(path, text_line("one"))
    tracker = TranscriptTracker(agents)
    tracker.read_changed([path], NOW)
    path.unlink()
    tracker.forget(path)
    assert tracker.offsets() == {}


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_tiny_chunks_split_lines_anywhere_and_change_nothing(tmp_path: Path, chunk: int) -> None:
    path = transcript(tmp_path)
    append(path, b"".join(text_line(f"line {n}") for n in range(20)) + b"\n\n")
    follower = TranscriptFollower(path, "adw1", "a", chunk=chunk)
    assert summaries(follower.read(NOW)) == [f"line {n}" for n in range(20)]


# --- kept descriptors -------------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_busy_transcript_is_read_through_a_kept_descriptor_and_few_stay_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follower_module, "MAX_HELD", 8)
    tracker = TranscriptTracker(tmp_path)
    paths = [transcript(tmp_path, f"adw{i:05d}", "a") for i in range(20)]
    for i, path in enumerate(paths):
        append(path, text_line(f"first {i}"))
    before = open_fds()
    assert len(tracker.read_changed(paths, NOW)) == 20
    assert open_fds() - before == 8  # the 8 most recently read
    append(paths[-1], text_line("second"))
    assert summaries(tracker.read_changed([paths[-1]], NOW)) == ["second"]
    tracker.forget(paths[-1])  # deleted: its descriptor goes with it
    assert open_fds() - before == 7
    monkeypatch.setattr(follower_module, "HOLD_S", 0.0)  # gone quiet: an idle server holds none
    assert tracker.release_idle() == 7
    assert open_fds() == before


def test_unread_bytes_counts_what_open_transcripts_will_read_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = TranscriptTracker(tmp_path)
    busy, new = transcript(tmp_path, "adw00001", "a"), transcript(tmp_path, "adw00002", "a")
    append(busy, text_line("first"))
    append(new, text_line("first"))
    assert tracker.unread_bytes([busy]) is None  # never read: the first read opens it
    tracker.read_changed([busy], NOW)
    assert tracker.unread_bytes([busy]) == 0
    line = text_line("second")
    append(busy, line)
    assert tracker.unread_bytes([busy]) == len(line)
    assert tracker.unread_bytes([busy, new]) is None
    assert tracker.unread_bytes([tmp_path / "outside.txt"]) is None
    monkeypatch.setattr(follower_module, "HOLD_S", 0.0)
    tracker.release_idle()
    assert tracker.unread_bytes([busy]) is None  # released: opening it again may block


def test_a_folder_moved_away_is_noticed_within_the_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follower_module, "HOLD_S", 0.05)
    path = transcript(tmp_path)
    follower = TranscriptFollower(path, "adw1", "a")
    append(path, text_line("old agent"))
    assert summaries(follower.read(NOW)) == ["old agent"]
    path.parent.rename(tmp_path / "adw1" / "moved")  # the old file lives on, elsewhere
    append(transcript(tmp_path), text_line("new agent"))
    time.sleep(0.1)
    assert summaries(follower.read(NOW)) == ["new agent"]
