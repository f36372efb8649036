"""Several real Chromium tabs on `/`: every one shows each change, whichever view it holds."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from livewatch.testing import LiveServer

from .helpers import expect_live, row, rows

TABS = 4


def test_every_open_tab_shows_each_change(server: LiveServer, page: Page) -> None:
    tabs = [page] + [page.context.new_page() for _ in range(TABS - 1)]
    for tab in tabs:
        tab.goto(server.url)
        expect_live(tab)
    # One tab on a view of its own: sorted by id, so it shares no page with the others.
    tabs[-1].get_by_role("columnheader", name="ADW ID").click()
    expect(rows(tabs[-1]).first).to_have_attribute("data-adw-id", "0d9b6c3f")

    server.agents.update("93f0b47e", issue_class="/tabs-one")
    for tab in tabs[:-1]:  # newest first: the changed row moves to the top
        expect(rows(tab).first).to_have_attribute("data-adw-id", "93f0b47e", timeout=2_000)
    for tab in tabs:
        expect(row(tab, "93f0b47e")).to_contain_text("/tabs-one", timeout=2_000)
    expect(rows(tabs[-1]).first).to_have_attribute("data-adw-id", "0d9b6c3f")

    server.agents.write("tabs0001", issue_number=4242)  # a new workflow: counts move too
    for tab in tabs:
        expect(row(tab, "tabs0001")).to_be_visible(timeout=2_000)
        expect(tab.get_by_test_id("workflows-heading")).to_have_text("Active Workflows (11)")
