"""Agents that write Claude Code stream-json lines on a schedule, for `bench/events.py`.

Every line carries a marker in what becomes its event's summary: the Bash command
`echo m-<agent>-<n>` of a tool_use line, or the first words of a text line. One writer process
appends the lines of all agents in turn, on one schedule (line k at t0 + k / aggregate rate), so
the aggregate rate holds even when a write is late: the next ones catch up. It stamps each write
with `time.time()` just before `os.write`, and hands the stamps back when done.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from array import array
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

MARKER = re.compile(rb"\bm-(\d+)-(\d+)\b")
AGENT_NAME = "agent_{:03d}"
SESSION = "5f0c2a9e-3b1d-4c8e-9a7f-2d6b1e0c4a93"
MODEL = "claude-sonnet-4-5-20250929"
USAGE = {
    "input_tokens": 4,
    "cache_creation_input_tokens": 1532,
    "cache_read_input_tokens": 24870,
    "output_tokens": 96,
    "service_tier": "standard",
}


def _assistant(msg_id: str, block: dict[str, object]) -> dict[str, object]:
    return {
        "type": "assistant",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [block],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": USAGE,
        },
        "parent_tool_use_id": None,
        "session_id": SESSION,
        "uuid": str(uuid.UUID(int=0)),
    }


def flow_line(agent: int, n: int) -> bytes:
    """Agent `agent`'s n-th line (about 500 bytes): three Bash calls, then a text block."""
    msg_id = f"msg_01B{agent:04d}{n:09d}"
    if n % 4 == 3:
        text = (
            f"m-{agent}-{n} Now let me run the unit tests again to check the parser change."
            "\n\nThen the e2e suite."
        )
        block: dict[str, object] = {"type": "text", "text": text}
    else:
        block = {
            "type": "tool_use",
            "id": f"toolu_01B{agent:04d}{n:09d}",
            "name": "Bash",
            "input": {"command": f"echo m-{agent}-{n}", "description": "Print the marker"},
        }
    return (json.dumps(_assistant(msg_id, block), separators=(",", ":")) + "\n").encode()


def text_line(msg_id: str, text: str, *, size: int | None = None) -> bytes:
    """One assistant text line; padded with ASCII filler to exactly `size` bytes if given."""
    line = json.dumps(_assistant(msg_id, {"type": "text", "text": text}), separators=(",", ":"))
    if size is not None:
        missing = size - len(line.encode()) - 1  # the newline
        if missing < 0:
            raise ValueError(f"a {size}-byte line can't hold this text")
        text += (" lorem ipsum" * (missing // 12 + 1))[:missing]  # no escapes: 1 char, 1 byte
        line = json.dumps(_assistant(msg_id, {"type": "text", "text": text}), separators=(",", ":"))
    return (line + "\n").encode()


def init_line() -> bytes:
    line = {
        "type": "system",
        "subtype": "init",
        "session_id": SESSION,
        "model": MODEL,
        "tools": ["Bash", "Read", "Edit", "Write", "Grep", "Glob"],
    }
    return (json.dumps(line) + "\n").encode()


def tool_result_line(index: int) -> bytes:
    """A tool result of about 1 KB, the bulk of a long transcript."""
    output = "PASSED tests/test_parser.py::test_case " * 24
    line = {
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_01H{index:012d}", "content": output}
            ],
        },
        "session_id": SESSION,
    }
    return (json.dumps(line, separators=(",", ":")) + "\n").encode()


def write_huge(path: Path, size: int) -> int:
    """A valid transcript of at least `size` bytes, written in 1 MiB blocks; returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = tool_result_line(0)
    block = line * max(1, (1 << 20) // len(line))
    written = 0
    with open(path, "wb") as out:
        out.write(init_line())
        while written < size:
            out.write(block)
            written += len(block)
    return path.stat().st_size


@dataclass(frozen=True)
class Schedule:
    """`agents` agents, `rate` lines a second each, from wall time `t0` for `seconds`."""

    agents: int
    rate: float
    seconds: float
    t0: float

    @property
    def total(self) -> int:
        return round(self.agents * self.rate * self.seconds)

    @property
    def interval(self) -> float:
        return 1.0 / (self.agents * self.rate)

    def index(self, agent: int, n: int) -> int:
        """The position of agent `agent`'s n-th line in the write order."""
        return n * self.agents + agent


def run_writer(paths: list[Path], schedule: Schedule, conn: Connection) -> None:
    """The writer process: append on schedule, then send the stamps (an array of doubles)."""
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC) for p in paths]
    stamps = array("d", bytes(8 * schedule.total))
    agents, interval, t0 = schedule.agents, schedule.interval, schedule.t0
    max_lag = 0.0
    try:
        for k in range(schedule.total):
            agent, n = k % agents, k // agents
            line = flow_line(agent, n)
            due = t0 + k * interval
            now = time.time()
            if due > now:
                time.sleep(due - now)
                now = time.time()
            else:
                max_lag = max(max_lag, now - due)
            stamps[k] = now
            os.write(fds[agent], line)
    finally:
        for fd in fds:
            os.close(fd)
    conn.send({"max_lag_s": max_lag, "first": stamps[0], "last": stamps[-1]})
    conn.send_bytes(stamps.tobytes())
    conn.close()


def receive_stamps(conn: Connection) -> tuple[dict[str, float], array[float]]:
    info = conn.recv()
    stamps = array("d")
    stamps.frombytes(conn.recv_bytes())
    return info, stamps
