"""10,000 workflows: one change costs a browser a few KB, not the whole table.

Only one page of rows lives in the browser, and the server re-renders the table only when a
change alters that page or its counts. We count the bytes of the socket.io frames the
browser receives for one change.

The activity chart is not pushed per change: every 5 s it sends new bars if there are any,
however many changes came in between. So we count it apart. A change is measured right
after a chart push, in a window that ends long before the next one; the chart push itself
(which a burst of changes shares) is recorded on its own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, WebSocket, expect

from livewatch.testing import LiveServer

from .helpers import expect_live, is_chart_frame, record, row, rows, screenshot

WORKFLOWS = 10_000
ONE_CHANGE_LIMIT = 8 * 1024  # bytes, for a change that re-renders the visible page
QUIET_CHANGE_LIMIT = 1024  # bytes, for a change off the visible page
CHART_PUSH_LIMIT = 2 * 1024  # bytes, for one activity chart push (at most one per 5 s)
CHART_WAIT_MS = 8_000  # the chart looks every 5 s


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
    """Counts the bytes of every socket.io frame the page receives, chart pushes apart."""

    def __init__(self, page: Page) -> None:
        self.frames: list[tuple[int, bool]] = []  # (bytes, part of a chart push)
        page.on("websocket", self._attach)

    def _attach(self, ws: WebSocket) -> None:
        ws.on("framereceived", self._received)

    def _received(self, payload: str | bytes) -> None:
        self.frames.append((len(_bytes(payload)), is_chart_frame(payload)))

    def mark(self) -> int:
        return len(self.frames)

    def since(self, mark: int) -> int:
        return sum(size for size, _ in self.frames[mark:])

    def chart_since(self, mark: int) -> int:
        return sum(size for size, chart in self.frames[mark:] if chart)


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


class Bench:
    """One page on the big server: makes changes and measures what each costs the page."""

    def __init__(self, page: Page, server: LiveServer, staging: Path) -> None:
        self.page, self.server, self.staging = page, server, staging
        self.meter = FrameMeter(page)
        self.made = 0  # changes made here, one record each: what the activity total must reach

    def change(self, adw_id: str, **changes: str) -> None:
        change_once(self.server, self.staging, adw_id, **changes)
        self.made += 1

    def last_change(self) -> str:
        return self.page.get_by_test_id("last-updated").get_attribute("data-ts") or ""

    def chart_push(self) -> int:
        """Make a warm-up change and wait until the chart has pushed it: that push's bytes."""
        mark, before = self.meter.mark(), self.last_change()
        self.change("w09999", model_set=f"warm-up-{self.made}")
        expect(self.page.get_by_test_id("last-updated")).not_to_have_attribute("data-ts", before)
        self.page.wait_for_function(
            "(n) => document.querySelector('[data-testid=activity-total]').dataset.total >= n",
            arg=self.made,
            timeout=CHART_WAIT_MS,
        )
        self.page.wait_for_timeout(200)  # the bars follow the total, in the same push
        return self.meter.chart_since(mark)

    def one_change(self, change: Callable[[], None]) -> tuple[int, int]:
        """The bytes of one change made right after a chart push, and of that push.

        The next push is 5 s away and the window lasts about 1.5 s. Should a push land in it
        anyway (at a new minute the bars move along), that window does not count: again.
        """
        for _ in range(3):
            pushed = self.chart_push()
            mark, changes = self.meter.mark(), broadcasts(self.server)
            change()
            settle(self.page)
            assert broadcasts(self.server) == changes + 1
            if self.meter.chart_since(mark) == 0:
                return self.meter.since(mark), pushed
        raise AssertionError("an activity chart push landed in every measuring window")


def test_one_change_costs_a_few_kilobytes_with_10k_workflows(
    big_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    bench = Bench(page, big_server, tmp_path)
    started = time.monotonic()
    page.goto(big_server.url)
    expect(rows(page)).to_have_count(25, timeout=15_000)
    load_seconds = time.monotonic() - started
    expect_live(page)
    expect(page.get_by_test_id("workflows-heading")).to_have_text("Active Workflows (10000)")
    settle(page)

    # Newest first: the changed workflow jumps to the top, so the visible page re-renders.
    def to_the_top() -> None:
        bench.change("w05000", issue_class="/bug")
        expect(rows(page).first).to_have_attribute("data-adw-id", "w05000")
        expect(row(page, "w05000")).to_contain_text("/bug")

    visible_bytes, chart_bytes = bench.one_change(to_the_top)

    # Sorted by id, page 1 is w00000-w00024: a change further down only moves the clock.
    page.get_by_role("columnheader", name="ADW ID").click()
    expect(rows(page).first).to_have_attribute("data-adw-id", "w00000")
    settle(page)

    def off_the_page() -> None:
        before = bench.last_change()
        bench.change("w07777", issue_class="/chore")
        expect(page.get_by_test_id("last-updated")).not_to_have_attribute("data-ts", before)

    quiet_bytes, _ = bench.one_change(off_the_page)

    screenshot(page, "workflows-10k")
    record(
        "10k-workflows",
        page_load_seconds=round(load_seconds, 2),
        bytes_visible_change=visible_bytes,
        bytes_offscreen_change=quiet_bytes,
        bytes_chart_push=chart_bytes,
    )
    assert 0 < visible_bytes < ONE_CHANGE_LIMIT
    assert 0 < quiet_bytes < QUIET_CHANGE_LIMIT
    assert 0 < chart_bytes < CHART_PUSH_LIMIT
    assert load_seconds < 5
