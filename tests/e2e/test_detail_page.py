"""`/workflows/{adw_id}`: the state, phase timeline, agents and log tails of one workflow."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from livewatch.testing import LiveServer

from .helpers import expect_live, screenshot


def phase(page: Page, name: str) -> Locator:
    return page.locator(f'[data-testid="detail-phase"][data-phase="{name}"]')


def agent(page: Page, name: str) -> Locator:
    return page.locator(f'[data-testid="detail-agent"][data-agent="{name}"]')


def test_the_detail_page_shows_everything_about_a_workflow(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/workflows/93f0b47e")
    expect_live(page)
    expect(page.get_by_test_id("detail-title")).to_have_text("93f0b47e")
    expect(page.get_by_test_id("detail-status")).to_have_text("failed")
    expect(page.get_by_test_id("detail-issue")).to_have_attribute(
        "href", "https://github.com/acme/shop/issues/127"
    )
    expect(page.get_by_test_id("phase-progress")).to_have_attribute("data-steps", "ddcppp")

    # Every field of adw_state.json, even those the list does not show.
    state = page.get_by_test_id("detail-state")
    expect(state.locator('[data-key="plan_file"]')).to_contain_text("null-avatar-crash.md")
    expect(state.locator('[data-key="backend_port"]')).to_have_text("9107")
    expect(state.get_by_test_id("detail-state-field")).to_have_count(10)

    expect(phase(page, "plan")).to_have_attribute("data-state", "done")
    expect(phase(page, "test")).to_have_attribute("data-state", "current")
    expect(phase(page, "ship")).to_have_attribute("data-state", "pending")
    expect(phase(page, "test").get_by_test_id("detail-log")).to_contain_text(
        "3 of 142 tests failed"
    )

    expect(page.get_by_test_id("detail-agent")).to_have_count(3)
    failing = agent(page, "test_runner")
    expect(failing).to_contain_text("error")
    expect(failing).to_contain_text("38")  # turns
    expect(failing).to_contain_text("$1.90")
    expect(failing).to_contain_text("3 of 142 tests still fail")
    screenshot(page, "workflow-detail")


def test_the_detail_page_follows_the_workflow_live(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/workflows/a1f3c9e2")
    expect_live(page)
    expect(phase(page, "plan")).to_have_attribute("data-state", "current")
    expect(agent(page, "sdlc_planner")).to_contain_text("$0.39")

    server.agents.advance("a1f3c9e2")  # the planner reports again, then the build starts
    expect(phase(page, "plan")).to_have_attribute("data-state", "done")
    expect(phase(page, "build")).to_have_attribute("data-state", "current")
    expect(phase(page, "build").get_by_test_id("detail-log")).to_contain_text(
        "Starting build phase"
    )
    expect(agent(page, "sdlc_planner")).to_contain_text("$0.10")  # its latest result line
    expect(page.locator('[data-key="all_adws"]')).to_contain_text("adw_build_iso")

    server.agents.log("a1f3c9e2", "build", "Compiling the CSV exporter")
    expect(phase(page, "build").get_by_test_id("detail-log")).to_contain_text(
        "Compiling the CSV exporter"
    )

    server.agents.remove("a1f3c9e2")
    expect(page.get_by_test_id("detail-missing")).to_have_text("No workflow a1f3c9e2")


def test_an_unknown_id_says_so_instead_of_crashing(server: LiveServer, page: Page) -> None:
    response = page.goto(f"{server.url}/workflows/nope1234")
    assert response is not None and response.ok
    expect(page.get_by_test_id("detail-missing")).to_have_text("No workflow nope1234")

    # It is live too: the workflow may be about to start.
    server.agents.write("nope1234", issue_number=9)
    expect(page.get_by_test_id("detail-title")).to_have_text("nope1234")
