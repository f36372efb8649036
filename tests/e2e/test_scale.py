"""10,000 workflows: one change costs a browser a few KB, not the whole table.

Only one page of rows lives in the browser, and the server re-renders the table only when a
change alters that page or its counts. We count the bytes of the socket.io frames the
browser receives for one change.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, WebSocket, expect

from livewatch.testing import LiveServer

from .helpers import expect_live, record, row, rows, screenshot

WORKFLOWS = 10_000
ONE_CHANGE_LIMIT = 8 * 1024  # bytes, for a change that re-renders the visible page
QUIET_CHANGE_LIMIT = 1024  # bytes, for a change off the visible page


def write_workflows(root: Path, count: int) -> None:
    """Plain JSON writes: a hundred times faster than agents would produce them."""
    for n in range(count):
        folder = root / f"w{n:05d}"
        folder.mkdir()
        state = {
            "adw_id": folder.name,
            "issue_number": str(n),
            "branch_name": f"feature-issue-{n}-adw-{folder.name}",
            "issue_class": "/feature",
            "all_adws": ["adw_plan_iso"],
        }
        (folder / "adw_state.json").write_text(json.dumps(state))


@pytest.fixture
def big_server(tmp_path: Path) -> Iterator[LiveServer]:
    agents = tmp_path / "agents"
    agents.mkdir()
    write_workflows(agents, WORKFLOWS)
    live = LiveServer(agents).start(timeout=60)
    try:
        yield live
    finally:
        live.stop()


class FrameMeter:
    """Counts the bytes of every socket.io frame the page receives."""

    def __init__(self, page: Page) -> None:
        self.frames: list[int] = []
        page.on("websocket", self._attach)

    def _attach(self, ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: self.frames.append(len(_bytes(payload))))

    def mark(self) -> int:
        return len(self.frames)

    def since(self, mark: int) -> int:
        return sum(self.frames[mark:])


def _bytes(payload: str | bytes) -> bytes:
    return payload.encode() if isinstance(payload, str) else payload


def change_once(server: LiveServer, staging: Path, adw_id: str, **changes: str) -> None:
    """Exactly one change: the new state is written outside the agents dir, then renamed in."""
    draft = staging / f"{adw_id}.json"
    draft.write_text(json.dumps({**server.agents.state(adw_id), **changes}))
    os.replace(draft, server.agents_dir / adw_id / "adw_state.json")


def broadcasts(server: LiveServer) -> int:
    return server.log().count("workflows update to")


def settle(page: Page) -> None:
    """Let trailing frames arrive. Playwright's sync API delivers events only while it is
    called, so this waits through Playwright rather than `time.sleep`."""
    page.wait_for_timeout(1_000)


def test_one_change_costs_a_few_kilobytes_with_10k_workflows(
    big_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    meter = FrameMeter(page)
    started = time.monotonic()
    page.goto(big_server.url)
    expect(rows(page)).to_have_count(25, timeout=15_000)
    load_seconds = time.monotonic() - started
    expect_live(page)
    expect(page.get_by_test_id("workflows-heading")).to_have_text("Active Workflows (10000)")
    settle(page)

    # Newest first: the changed workflow jumps to the top, so the visible page re-renders.
    mark, changes = meter.mark(), broadcasts(big_server)
    change_once(big_server, tmp_path, "w05000", issue_class="/bug")
    expect(rows(page).first).to_have_attribute("data-adw-id", "w05000")
    expect(row(page, "w05000")).to_contain_text("/bug")
    settle(page)
    visible_bytes = meter.since(mark)
    assert broadcasts(big_server) == changes + 1

    # Sorted by id, page 1 is w00000-w00024: a change further down only moves the clock.
    page.get_by_role("columnheader", name="ADW ID").click()
    expect(rows(page).first).to_have_attribute("data-adw-id", "w00000")
    settle(page)
    label = page.get_by_test_id("last-updated")
    before = label.get_attribute("data-ts")
    mark, changes = meter.mark(), broadcasts(big_server)
    change_once(big_server, tmp_path, "w07777", issue_class="/chore")
    expect(label).not_to_have_attribute("data-ts", before or "")
    settle(page)
    quiet_bytes = meter.since(mark)
    assert broadcasts(big_server) == changes + 1

    screenshot(page, "workflows-10k")
    record(
        "10k-workflows",
        page_load_seconds=round(load_seconds, 2),
        bytes_visible_change=visible_bytes,
        bytes_offscreen_change=quiet_bytes,
    )
    assert 0 < visible_bytes < ONE_CHANGE_LIMIT
    assert 0 < quiet_bytes < QUIET_CHANGE_LIMIT
    assert load_seconds < 5
