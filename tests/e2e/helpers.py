"""What the e2e tests share: locators for the stable test ids, and small waits."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-results" / "screenshots"
# `LIVEWATCH_UPDATE_DOCS=1 python -m pytest tests/e2e` refreshes the README's pictures too.
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"


def by_test_id(page: Page, test_id: str) -> Locator:
    return page.get_by_test_id(test_id)


def status(page: Page) -> Locator:
    return page.get_by_test_id("connection-status")


def rows(page: Page) -> Locator:
    return page.get_by_test_id("workflow-row")


def row(page: Page, adw_id: str) -> Locator:
    return page.locator(f'[data-testid="workflow-row"][data-adw-id="{adw_id}"]')


# The round-trip time as the header shows it, e.g. "3 ms".
MILLISECONDS = re.compile(r"^\d+ ms$")


def rtt(page: Page) -> Locator:
    return page.get_by_test_id("connection-rtt")


def activity_total(page: Page) -> int:
    """The dashboard's "N changes in the last hour", as N."""
    return int(page.get_by_test_id("activity-total").get_attribute("data-total") or 0)


def chart_bars(page: Page) -> list[int]:
    """The bars the activity chart draws, read from its ECharts instance in the browser."""
    chart = page.get_by_test_id("activity-chart").element_handle()
    return page.evaluate("(el) => getElement(el).chart.getOption().series[0].data", chart)


# What a chart push carries: the total's label, the chart element, or new bars for it.
CHART_MARKERS = ('"activity-total"', '"activity-chart"', "lwActivity")


def is_chart_frame(payload: str | bytes) -> bool:
    """Whether a socket.io frame the browser received belongs to an activity chart push."""
    text = payload if isinstance(payload, str) else payload.decode(errors="replace")
    return any(marker in text for marker in CHART_MARKERS)


def expect_live(page: Page, timeout: float = 10_000) -> None:
    expect(status(page)).to_have_attribute("data-state", "live", timeout=timeout)
    expect(status(page)).to_have_text("Live updates")


def row_ids(page: Page) -> list[str]:
    return [r.get_attribute("data-adw-id") or "" for r in rows(page).all()]


def choose(page: Page, test_id: str, option: str) -> None:
    """Pick an option of a Quasar select (its menu opens in a portal)."""
    page.get_by_test_id(test_id).click()
    page.get_by_role("option", name=option, exact=True).click()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact: test-results/screenshots/<name>.png.

    The pictures go into the docs: wait until the header shows its round-trip time.
    """
    if rtt(page).count():
        expect(rtt(page)).to_have_text(MILLISECONDS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # From the top: scrolled, the fixed header would be drawn across the middle of the picture.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=path, full_page=True)
    if os.environ.get("LIVEWATCH_UPDATE_DOCS") == "1":
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
    return path


def record(name: str, **figures: Any) -> None:
    """Keep measured figures beside the screenshots (and show them with `-s`)."""
    SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
    print(f"\n[{name}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    with (SCREENSHOTS.parent / "figures.jsonl").open("a") as out:
        out.write(json.dumps({"test": name, **figures}) + "\n")


def eventually(check: Callable[[], bool], timeout: float = 10.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def expect_rows(page: Page, ids: list[str] | set[str]) -> None:
    """Wait until the table shows exactly these rows (in this order, for a list)."""
    expect(rows(page)).to_have_count(len(ids))
    if isinstance(ids, set):
        for adw_id in ids:
            expect(row(page, adw_id)).to_be_visible()
        return
    for index, adw_id in enumerate(ids):
        expect(rows(page).nth(index)).to_have_attribute("data-adw-id", adw_id)
