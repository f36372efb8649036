"""Bad input under agents/, through a real server: each case is one error row, the rest go on."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import by_id, recv_json, recv_until, serving
from websockets.asyncio.client import connect

from livewatch.testing import LiveServer

Make = Callable[[Path], None]


def state(body: bytes) -> Make:
    def make(folder: Path) -> None:
        folder.mkdir()
        (folder / "adw_state.json").write_bytes(body)

    return make


def fifo(folder: Path) -> None:
    folder.mkdir()
    os.mkfifo(folder / "adw_state.json")


def directory(folder: Path) -> None:
    (folder / "adw_state.json").mkdir(parents=True)


def symlink_outside(folder: Path) -> None:
    secret = folder.parent.parent / "secret.json"
    secret.write_text(json.dumps({"adw_id": folder.name, "password": "hunter2"}))
    folder.mkdir()
    (folder / "adw_state.json").symlink_to(secret)


def symlink_loop(folder: Path) -> None:
    folder.mkdir()
    (folder / "adw_state.json").symlink_to(folder / "adw_state.json")


BAD: dict[str, tuple[Make, str]] = {
    "empty0001": (state(b""), "is empty"),
    "torn00001": (state(b'{"adw_id": "torn00001", "issue_'), "not valid JSON"),
    "array0001": (state(b"[1, 2, 3]"), "not a JSON object"),
    "noid00001": (state(b'{"issue_number": "4"}'), "has no adw_id"),
    "other0001": (state(b'{"adw_id": "someone-else"}'), "differs from"),
    "latin0001": (state(b'{"adw_id": "latin0001", "x": "\xe9"}'), "not valid UTF-8"),
    "fifo00001": (fifo, "not a regular file"),
    "dir000001": (directory, "not a regular file"),
    "link00001": (symlink_outside, "symlink"),
    "loop00001": (symlink_loop, "symlink"),
}


@pytest.fixture
def server(tmp_path: Path) -> LiveServer:
    with serving(tmp_path, "good0001", issue_number=1) as live:
        yield live


async def test_every_kind_of_bad_state_file_is_one_clear_error_row(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        for name, (make, _) in BAD.items():
            make(server.agents_dir / name)
        message = await recv_until(ws, lambda m: set(BAD) <= set(by_id(m)))
        rows = by_id(message)
        for name, (_, reason) in BAD.items():
            assert rows[name]["status"] == "error", name
            assert reason in rows[name]["error"], (name, rows[name]["error"])
            assert "\n" not in rows[name]["error"]
        # The healthy workflow keeps updating, and nothing behind a symlink is served.
        server.agents.update("good0001", issue_number=2)
        await recv_until(ws, lambda m: by_id(m)["good0001"]["issue_number"] == 2)
    assert "hunter2" not in server.get("/api/workflows/link00001").text
    assert "Traceback" not in server.log()


async def test_wrong_types_are_coerced_not_fatal(server: LiveServer) -> None:
    body = b'{"adw_id": "types0001", "issue_number": "abc", "all_adws": "adw_plan_iso"}'
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        state(body)(server.agents_dir / "types0001")
        row = by_id(await recv_until(ws, lambda m: "types0001" in by_id(m)))["types0001"]
    assert (row["issue_number"], row["all_adws"], row["error"]) == (None, ["adw_plan_iso"], None)


async def test_a_1gb_agent_stream_is_read_from_its_tail(server: LiveServer) -> None:
    stream = server.agents_dir / "good0001" / "sdlc_planner" / "raw_output.jsonl"
    stream.parent.mkdir()
    with stream.open("wb") as f:
        f.truncate(1024**3)  # sparse: 1 GB that costs no disk
        f.seek(0, os.SEEK_END)
        f.write(b'\n{"type":"result","is_error":false,"total_cost_usd":1.25,"num_turns":3}\n')
    started = time.monotonic()
    async with connect(server.ws_url("/ws/workflows")) as ws:
        await recv_json(ws)
        server.agents.update("good0001", issue_class="/bug")
        await recv_until(ws, lambda m: by_id(m)["good0001"]["cost_usd"] == 1.25)
    assert time.monotonic() - started < 5


async def test_10000_files_in_a_second_end_in_the_exact_state(server: LiveServer) -> None:
    async with connect(server.ws_url("/ws/workflows"), max_size=None) as ws:
        await recv_json(ws)
        for i in range(2000):  # 2,000 workflows of 5 files each
            folder = server.agents_dir / f"many{i:05d}"
            for phase in ("plan", "build", "test"):
                (folder / f"adw_{phase}_iso").mkdir(parents=True)
                (folder / f"adw_{phase}_iso" / "execution.log").write_text("started\n")
            (folder / "notes.txt").write_text("x")
            (folder / "adw_state.json").write_text(json.dumps({"adw_id": folder.name}))
        message = await recv_until(ws, lambda m: len(m["data"]) == 2001, timeout=30)
    assert all(r["phase"] == "test" for r in message["data"] if r["adw_id"].startswith("many"))


def test_unreadable_files_are_an_error_not_a_crash(server: LiveServer) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file, so permissions cannot be tested as root")
    folder = server.agents_dir / "secret001"
    state(b'{"adw_id": "secret001"}')(folder)
    (folder / "adw_state.json").chmod(0)
    deadline = time.monotonic() + 5
    while True:
        rows = {w["adw_id"]: w for w in server.get("/api/workflows").json()}
        if "secret001" in rows:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "not readable" in rows["secret001"]["error"]
