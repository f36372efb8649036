"""The alerts panel and the notify toggle in real Chromium, fed by a real webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from webhook_receiver import Receiver

from livewatch.testing import LiveServer

from .helpers import expect_live, screenshot

# Records each notification the page shows, on top of the real (granted) Notification API.
RECORD_NOTIFICATIONS = """
window.__notes = [];
const RealNotification = window.Notification;
window.Notification = class extends RealNotification {
  constructor(title, options) { super(title, options); window.__notes.push(title); }
};
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver("error") as rx:  # 500 until a test switches it to "ok"
        yield rx


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[LiveServer]:
    agents: Path = tmp_path_factory.mktemp("alerts-e2e") / "agents"
    agents.mkdir()
    args = ["--alert-webhook", receiver.url, "--alert-give-up-s", "3"]
    live = LiveServer(agents, args=args)
    for adw_id in ("aaaa0001", "bbbb0002"):
        live.agents.write(adw_id)
    live.start()
    yield live
    live.stop()


def alert_row(page: Page, event: str, delivery: str) -> object:
    return page.locator(
        f'[data-testid="alerts-list"] [data-testid="alert-row"]'
        f'[data-event="{event}"][data-delivery="{delivery}"]'
    )


def test_the_panel_shows_each_alerts_delivery_live_and_notifies(
    alerting: LiveServer, receiver: Receiver, page: Page, context: BrowserContext
) -> None:
    context.grant_permissions(["notifications"], origin=alerting.url)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page.goto(alerting.url)
    expect_live(page)
    toggle = page.get_by_test_id("notify-toggle")
    expect(toggle).to_have_attribute("data-enabled", "false")
    toggle.click()
    expect(toggle).to_have_attribute("data-enabled", "true")

    # The webhook answers 500: pending while it retries, failed once it gives up (3 s).
    alerting.agents.write("aaaa0001", status="failed")
    first = alert_row(page, "failed", "pending")
    expect(first).to_have_count(1, timeout=10_000)
    expect(first).to_contain_text("aaaa0001")
    expect(alert_row(page, "failed", "failed")).to_have_count(1, timeout=15_000)
    page.wait_for_function("window.__notes.some(t => t.includes('aaaa0001'))", timeout=10_000)

    receiver.mode = "ok"
    alerting.agents.write("bbbb0002", status="failed")
    expect(alert_row(page, "failed", "delivered")).to_have_count(1, timeout=10_000)
    notes = page.evaluate("window.__notes")
    assert sum("bbbb0002" in n for n in notes) == 1

    page.goto(f"{alerting.url}/alerts")  # the page of its own lists both
    expect(page.get_by_test_id("alert-row")).to_have_count(2)
    expect(page.get_by_test_id("notify-toggle")).to_have_attribute("data-enabled", "true")
    screenshot(page, "alerts")


def test_notifications_stay_off_until_the_operator_opts_in(
    alerting: LiveServer, page: Page, context: BrowserContext
) -> None:
    context.grant_permissions(["notifications"], origin=alerting.url)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page.goto(f"{alerting.url}/alerts")
    expect_live(page)
    expect(page.get_by_test_id("notify-toggle")).to_have_attribute("data-enabled", "false")
    alerting.agents.write("cccc0003", status="failed")  # new and fresh: it alerts
    row = page.locator('[data-testid="alert-row"][data-key="cccc0003:failed:plan"]')
    expect(row).to_have_count(1, timeout=10_000)
    page.wait_for_timeout(500)  # the notification would come with the row
    assert page.evaluate("window.__notes") == []
