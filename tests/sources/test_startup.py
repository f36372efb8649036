"""Start-up: writes show at once while the first scan runs, the last known list is served
from the store at once and verified behind it, and a bad snapshot never stops a start."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import by_id, recv_json, recv_until, wait_for
from websockets.asyncio.client import connect

from livewatch.testing import LiveServer

# Generous for a shared 2-core machine: the gate holds the scan as long as the test needs,
# so what proves the point is that the write shows while /healthz still says "verifying".
WRITE_SHOWS_S = 5.0
START_S = 90.0  # a start on a machine loaded by parallel test suites
GATED_SERVER = Path(__file__).with_name("gated_scan_server.py")
IDS = [f"{n:04d}abcd" for n in range(12)]


class GatedScanServer(LiveServer):
    """A server whose full scans wait until `let_scans(n)` lets the n-th one through."""

    def __init__(self, agents_dir: Path) -> None:
        self.gate = agents_dir.parent / "scan-gate"
        self.let_scans(0)
        super().__init__(agents_dir, env={"SCAN_GATE": str(self.gate)})

    def let_scans(self, count: int) -> None:
        self.gate.write_text(str(count))

    def command(self) -> list[str]:
        return [sys.executable, str(GATED_SERVER), *super().command()[3:]]


def listed(live: LiveServer) -> dict[str, dict[str, object]]:
    return {record["adw_id"]: record for record in live.get("/api/workflows").json()}


def verifying(live: LiveServer) -> bool:
    return bool(live.get("/healthz").json()["verifying"])


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatedScanServer]:
    """A server on 12 workflows whose scans wait at a gate; started by the first test."""
    agents = tmp_path_factory.mktemp("startup") / "agents"
    agents.mkdir()
    live = GatedScanServer(agents)
    for number, adw_id in enumerate(IDS):
        live.agents.write(adw_id, issue_number=number)
    try:
        yield live
    finally:
        live.stop()


async def test_a_write_right_after_the_port_opens_shows_during_the_scan(
    slow: GatedScanServer,
) -> None:
    slow.let_scans(1)  # the first scan (the port opens after it); the catch-up scan waits
    slow.start(START_S, verified=False)  # returns as soon as /healthz answers 200
    async with connect(slow.ws_url("/ws/workflows?protocol=2")) as ws:
        snapshot = await recv_json(ws)
        assert len(snapshot["data"]) == len(IDS)
        assert verifying(slow)  # the catch-up scan is still under way
        written = time.monotonic()
        slow.agents.write(IDS[0], issue_number=4242)
        await recv_until(
            ws, lambda m: any(r["issue_number"] == 4242 for r in m["upsert"]), WRITE_SHOWS_S
        )
        assert time.monotonic() - written < WRITE_SHOWS_S
        assert verifying(slow)  # it showed while the scan ran, not after it
    slow.let_scans(2)  # the catch-up scan: it must not undo the write
    await asyncio.to_thread(wait_for, lambda: not verifying(slow), START_S)
    assert listed(slow)[IDS[0]]["issue_number"] == 4242


async def test_the_last_known_list_is_served_at_once_and_verified_behind_it(
    slow: GatedScanServer,
) -> None:
    if slow.process is None:  # run alone
        slow.let_scans(2)
        slow.start(START_S, verified=False)
    await asyncio.to_thread(wait_for, lambda: not verifying(slow), START_S)
    headers = slow.get("/api/workflows").headers
    seq, epoch = headers["x-livewatch-seq"], headers["x-livewatch-epoch"]
    slow.stop()  # the last known list is in the store now
    slow.agents.write(IDS[1], issue_number=777)  # changed while the server was down
    for path in sorted((slow.agents_dir / IDS[2]).rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (slow.agents_dir / IDS[2]).rmdir()  # deleted while it was down
    slow.start(START_S, verified=False)
    async with connect(slow.ws_url(f"/ws/workflows?protocol=2&since={seq}&epoch={epoch}")) as ws:
        first = await recv_json(ws)
        # A new process, a new epoch: a resuming client gets a whole snapshot.
        assert first["type"] == "snapshot" and first["epoch"] != epoch
        served = by_id(first)
        # As last known: no scan has corrected it yet.
        assert served[IDS[1]]["issue_number"] == 1 and IDS[2] in served
        assert verifying(slow)
        slow.let_scans(10)
        delta = await recv_until(
            ws, lambda m: m["type"] == "delta" and IDS[2] in m["remove"], START_S
        )
        assert [r["issue_number"] for r in delta["upsert"] if r["adw_id"] == IDS[1]] == [777]
    await asyncio.to_thread(wait_for, lambda: not verifying(slow), START_S)
    assert set(listed(slow)) == set(IDS) - {IDS[2]}
    assert f"[STARTUP] {len(IDS)} last known workflows; verifying them" in slow.log()


def test_a_corrupt_database_never_breaks_start_up(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    live = LiveServer(agents)
    for adw_id in IDS[:3]:
        live.agents.write(adw_id)
    Path(live.args[live.args.index("--db") + 1]).write_bytes(b"not a database" * 100)
    live.start(START_S)
    try:
        assert set(listed(live)) == set(IDS[:3])  # scanned: there is no list to start from
        assert live.get("/healthz").json()["db"] == "degraded"
    finally:
        live.stop()
