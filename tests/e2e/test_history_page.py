"""`/history` in Chromium on the backfilled samples: charts, the runs table, range, export."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import Page, expect

from livewatch.testing import LiveServer

from .helpers import by_test_id, eventually, screenshot

CHARTS = ("history-runs-chart", "history-cost-chart", "history-phase-chart", "history-class-chart")


def test_the_history_page_shows_the_backfilled_runs(server: LiveServer, page: Page) -> None:
    assert eventually(
        lambda: server.get("/healthz").json()["history"]["backfill"]["state"] == "done", 30
    )
    page.goto(f"{server.url}/history")
    rows = by_test_id(page, "history-row")
    expect(rows).to_have_count(9)
    for chart in CHARTS:
        expect(by_test_id(page, chart).locator("canvas").first).to_be_visible()
    first = rows.first
    adw_id = first.get_attribute("data-adw-id")
    assert first.locator("a").get_attribute("href") == f"/workflows/{adw_id}"
    screenshot(page, "history")

    # Slowest first, as the server orders them.
    by_test_id(page, "history-sort").get_by_text("Slowest").click()
    slowest = server.get("/api/history/runs?sort=slowest&limit=1").json()["runs"][0]["adw_id"]
    expect(rows.first).to_have_attribute("data-adw-id", slowest)

    # A shorter range: the samples are days old on a fresh checkout, so fewer runs or none.
    by_test_id(page, "history-range").get_by_text("7 days").click()
    expect(by_test_id(page, "history-export")).to_have_attribute(
        "href", "/api/history/runs.csv?days=7&sort=slowest"
    )
    by_test_id(page, "history-range").get_by_text("90 days").click()
    expect(rows).to_have_count(9)
    with page.expect_download() as download:
        by_test_id(page, "history-export").click()
    text = open(download.value.path(), encoding="utf-8").read()  # noqa: SIM115
    exported = list(csv.DictReader(io.StringIO(text)))
    assert {r["adw_id"] for r in exported} == {
        rows.nth(i).get_attribute("data-adw-id") for i in range(9)
    }
