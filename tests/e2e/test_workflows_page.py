"""`/`: the live workflows table, its search, filters, sorting and empty state."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from livewatch.testing import LiveServer

from .helpers import (
    activity_total,
    chart_bars,
    choose,
    eventually,
    expect_live,
    expect_rows,
    row,
    rows,
    screenshot,
)

SAMPLE_IDS = {
    "0d9b6c3f", "2c6e8d51", "4b7d2e90", "7e2a9f14", "93f0b47e",
    "a1f3c9e2", "b84a1f6c", "c38e51a7", "e5c1a8d2", "f61d3e28",
}  # fmt: skip


def test_the_dashboard_shows_every_workflow(server: LiveServer, page: Page) -> None:
    page.goto(server.url)
    expect_live(page)
    expect(page.get_by_test_id("workflows-heading")).to_have_text("Active Workflows (10)")
    expect_rows(page, SAMPLE_IDS)
    expect(page.get_by_test_id("workflows-count")).to_have_text("Showing 10 of 10 workflows")
    expect(page.get_by_test_id("workflows-empty")).to_be_hidden()

    failed = row(page, "93f0b47e")
    expect(failed.get_by_role("link", name="#127")).to_have_attribute(
        "href", "https://github.com/acme/shop/issues/127"
    )
    expect(failed.get_by_test_id("status-badge")).to_have_text("failed")
    expect(failed.get_by_test_id("status-badge")).to_have_class(re.compile(r"bg-red"))
    expect(failed).to_contain_text("$3.41")
    # Plan and build done (green ✓), test current (blue), the rest still to come (gray).
    progress = failed.get_by_test_id("phase-progress")
    expect(progress).to_have_attribute("data-steps", "ddcppp")
    expect(progress.locator(".lw-d")).to_have_count(2)
    expect(progress.locator(".lw-c")).to_have_text("3")
    expect(progress.locator(".lw-p")).to_have_count(3)
    expect(row(page, "e5c1a8d2").locator(".lw-d")).to_have_count(6)  # shipped: all done

    broken = row(page, "2c6e8d51")
    expect(broken.get_by_test_id("status-badge")).to_have_text("error")
    expect(broken.get_by_test_id("workflow-error")).to_contain_text("not valid JSON")
    expect(failed.locator("[data-ts]")).to_have_text(re.compile(r"^(Just now|\d+[smh] ago)$"))


def test_the_activity_chart_counts_the_changes_of_the_last_hour(
    server: LiveServer, page: Page
) -> None:
    page.goto(server.url)
    expect_live(page)
    expect(page.get_by_test_id("activity-chart").locator("canvas")).to_be_visible()
    total = page.get_by_test_id("activity-total")
    expect(total).to_have_text(re.compile(r"^\d+ changes? in the last hour$"))
    before = activity_total(page)

    for adw_id in ("a1f3c9e2", "b84a1f6c", "f61d3e28", "0d9b6c3f", "7e2a9f14"):
        server.agents.update(adw_id)  # an agent saves its state: a new updated_at
    # The chart looks for new bars every 5 s, then shows them all at once.
    assert eventually(lambda: activity_total(page) >= before + 5, timeout=8)
    expect(total).to_have_text(re.compile(r"^\d+ changes in the last hour$"))
    assert eventually(lambda: sum(chart_bars(page)) == activity_total(page), timeout=2)
    bars = chart_bars(page)
    assert len(bars) == 60  # the last hour, oldest first: ours are this minute's or the last
    assert sum(bars[-2:]) >= 5
    # The newest bar is labelled with this minute on the browser's clock (or the last one, at
    # a minute's turn): the browser moves the labels on with the bars.
    chart = page.get_by_test_id("activity-chart").element_handle()
    newest = page.evaluate("(el) => getElement(el).chart.getOption().xAxis[0].data.at(-1)", chart)
    minutes = page.evaluate(
        "[0, 60000].map((ago) => new Date(Date.now() - ago).toTimeString().slice(0, 5))"
    )
    assert newest in minutes
    screenshot(page, "workflows")


def test_every_tab_gets_the_new_bars_from_one_shared_message(
    server: LiveServer, page: Page
) -> None:
    tabs = [page, page.context.new_page()]
    pushes: list[list[str]] = [[], []]
    for tab, seen in zip(tabs, pushes, strict=True):
        tab.on(
            "websocket",
            lambda ws, seen=seen: ws.on(
                "framereceived",
                lambda p, seen=seen: seen.append(str(p)) if "lwActivity" in str(p) else None,
            ),
        )
        tab.goto(server.url)
        expect_live(tab)
    before = [activity_total(tab) for tab in tabs]
    for adw_id in ("a1f3c9e2", "b84a1f6c", "f61d3e28"):
        server.agents.update(adw_id)
    for tab, was in zip(tabs, before, strict=True):
        assert eventually(lambda tab=tab, was=was: activity_total(tab) >= was + 3, timeout=8)
        assert eventually(lambda tab=tab: sum(chart_bars(tab)) == activity_total(tab), timeout=2)
    # The clock's message, not each tab's own: no outbox id, and the same text in both.
    shared = [[p for p in seen if '"_id"' not in p] for seen in pushes]
    assert shared[0] and shared[0][-1] == shared[1][-1]


def test_a_new_workflow_appears_within_a_second(server: LiveServer, page: Page) -> None:
    other_tab = page.context.new_page()
    for tab in (page, other_tab):
        tab.goto(server.url)
        expect_live(tab)
    server.agents.write("fresh001", issue_number=777)
    for tab in (page, other_tab):  # every open browser, without a reload
        expect(row(tab, "fresh001")).to_be_visible(timeout=1_000)
    expect(page.get_by_test_id("workflows-heading")).to_have_text("Active Workflows (11)")

    server.agents.update("fresh001", issue_class="/chore")
    expect(row(page, "fresh001")).to_contain_text("/chore", timeout=1_000)
    server.agents.remove("fresh001")
    expect(row(page, "fresh001")).to_have_count(0, timeout=1_000)
    expect(page.get_by_test_id("workflows-heading")).to_have_text("Active Workflows (10)")


def test_search_matches_id_issue_number_and_branch(server: LiveServer, page: Page) -> None:
    page.goto(server.url)
    search = page.get_by_test_id("search")
    count = page.get_by_test_id("workflows-count")

    search.fill("93f0")  # part of an adw_id
    expect(count).to_have_text("Showing 1 of 10 workflows")
    expect_rows(page, ["93f0b47e"])

    search.fill("#136")  # an issue number
    expect(count).to_have_text("Showing 1 of 10 workflows")
    expect_rows(page, ["b84a1f6c"])

    search.fill("dark-mode")  # part of a branch name
    expect(count).to_have_text("Showing 1 of 10 workflows")
    expect_rows(page, ["7e2a9f14"])

    search.fill("no-such-thing")
    expect(count).to_have_text("Showing 0 of 10 workflows")
    expect(rows(page)).to_have_count(0)

    search.fill("")
    expect(rows(page)).to_have_count(10)


def test_status_and_phase_filters(server: LiveServer, page: Page) -> None:
    page.goto(server.url)
    choose(page, "status-filter", "failed")
    expect_rows(page, ["93f0b47e"])

    choose(page, "status-filter", "All statuses")
    choose(page, "phase-filter", "build")
    expect_rows(page, {"2c6e8d51", "4b7d2e90", "b84a1f6c"})

    # Filters hold for live changes too: a workflow entering the build phase joins them.
    server.agents.write("late0001", issue_number=5)
    (server.agents_dir / "late0001" / "adw_build_iso").mkdir()
    expect(row(page, "late0001")).to_be_visible()
    expect(page.get_by_test_id("workflows-count")).to_have_text("Showing 4 of 11 workflows")


def test_columns_sort_and_pages_come_from_the_server(empty_server: LiveServer, page: Page) -> None:
    for n in range(30):
        empty_server.agents.write(f"wf{n:04d}", issue_number=1000 - n)
    page.goto(empty_server.url)
    expect(page.get_by_test_id("workflows-heading")).to_have_text("Active Workflows (30)")
    expect(rows(page)).to_have_count(25)  # one page of 25; the rest stay on the server

    page.get_by_role("columnheader", name="Issue").click()  # ascending
    expect(rows(page).first).to_have_attribute("data-adw-id", "wf0029")
    page.get_by_role("columnheader", name="Issue").click()  # descending
    expect(rows(page).first).to_have_attribute("data-adw-id", "wf0000")

    page.get_by_role("button", name="Next page").click()
    expect_rows(page, [f"wf{n:04d}" for n in range(25, 30)])


def test_empty_state_until_the_first_workflow(empty_server: LiveServer, page: Page) -> None:
    page.goto(empty_server.url)
    expect(page.get_by_test_id("workflows-empty")).to_have_text("No active workflows")
    expect(page.get_by_test_id("workflows-heading")).to_have_text("Active Workflows (0)")
    expect(page.get_by_test_id("workflows-table")).to_be_hidden()
    expect(page.get_by_test_id("last-updated")).to_have_text("Just now")

    empty_server.agents.write("first001", issue_number=1)
    expect(row(page, "first001")).to_be_visible()
    expect(page.get_by_test_id("workflows-empty")).to_be_hidden()


def test_each_row_links_to_its_detail_page(server: LiveServer, page: Page) -> None:
    page.goto(server.url)
    row(page, "93f0b47e").get_by_role("link", name="93f0b47e").click()
    expect(page).to_have_url(f"{server.url}/workflows/93f0b47e")
    expect(page.get_by_test_id("detail-title")).to_have_text("93f0b47e")


def test_pages_load_no_tailwind_compiler_and_keep_their_utility_styles(
    server: LiveServer, page: Page
) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_test_id("nav")).to_be_visible()
    scripts = page.eval_on_selector_all("script[src]", "all => all.map((s) => s.src)")
    assert not [s for s in scripts if "tailwind" in s]
    header = page.locator("header")
    # bg-slate-800 and gap-4, px-4 of the header: plain CSS now, not Tailwind's output.
    assert header.evaluate("h => getComputedStyle(h).backgroundColor") == "rgb(30, 41, 59)"
    assert header.evaluate("h => getComputedStyle(h).columnGap") == "16px"
    assert header.evaluate("h => getComputedStyle(h).paddingLeft") == "16px"
    title = page.get_by_text("livewatch", exact=True).first
    assert title.evaluate("t => getComputedStyle(t).fontWeight") == "700"
