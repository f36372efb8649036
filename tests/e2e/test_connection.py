"""The header tells the truth about the connection, and the page heals itself.

The indicator follows NiceGUI's socket.io client in the browser: green over WebSocket,
yellow over long-polling, gray while reconnecting. These tests break the connection for
real: they kill the server, or block the browser's WebSocket.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from playwright.sync_api import Page, WebSocket, expect

from livewatch.testing import LiveServer, free_port

from .helpers import (
    MILLISECONDS,
    eventually,
    expect_live,
    is_chart_frame,
    record,
    row,
    rtt,
    screenshot,
    status,
)

# A WebSocket that a proxy refuses: every connection goes to a port nobody listens on.
REFUSED_WEBSOCKET = """
(() => {
  const Real = window.WebSocket;
  window.WebSocket = class extends Real {
    constructor(url, protocols) { super("ws://127.0.0.1:%d/blocked", protocols); }
  };
})();
"""

# A WebSocket that a proxy swallows: it never opens and never fails.
SILENT_WEBSOCKET = """
window.WebSocket = class {
  constructor(url) { this.url = url; this.readyState = 0; }
  send() {}
  close() {}
};
"""


def test_the_seeds_manual_test_kill_and_restart(server: LiveServer, page: Page) -> None:
    page.goto(server.url)
    expect_live(page)

    server.kill()  # SIGKILL: no goodbye, the browser only sees the socket die
    expect(status(page)).to_have_attribute("data-state", "reconnecting", timeout=5_000)
    expect(status(page)).to_have_text("Reconnecting...")
    expect(rtt(page)).to_have_text("\u2013")  # no round trip without a server
    expect(page.locator("#popup")).to_be_hidden()  # ours replaces NiceGUI's popup

    server.agents.write("down0001", issue_number=404)  # happens while nobody watches
    reloads: list[float] = []  # the new server does not know this page: it loads it afresh
    page.on(
        "framenavigated", lambda f: reloads.append(time.monotonic()) if not f.parent_frame else None
    )
    server.start()  # same port
    back = time.monotonic()
    expect_live(page, timeout=5_000)
    green_after = time.monotonic() - back
    expect(row(page, "down0001")).to_be_visible()  # fresh data, not the pre-crash table
    expect(rtt(page)).to_have_text(MILLISECONDS)  # measured again on the new connection
    # The retry is what the options bound (≤ 1.2 s with jitter); loading the page again after
    # it is Chromium's work, which a loaded CI machine stretches: timed apart.
    found_after = min(reloads, default=back + green_after) - back
    record(
        "kill-restart",
        seconds_to_reconnect=round(found_after, 2),
        seconds_to_green=round(green_after, 2),
    )
    assert found_after < 2.0, "socket.io's retry delay should be capped at about 1 s"


def test_a_link_that_dies_silently_is_found_by_the_pages_probe(
    server: LiveServer, page: Page
) -> None:
    page.goto(server.url)
    expect_live(page)
    # engine.io pings only every 25 s: cheap for the server, too slow to find a dead link.
    handshake = server.get("/_nicegui_ws/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert '"pingInterval":25000' in handshake.text
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)  # the socket stays open; nothing answers
    try:
        frozen = time.monotonic()
        # A probe every 15 s, each silence waited out for 2 s, two in a row: at most ~19 s.
        expect(status(page)).to_have_attribute("data-state", "reconnecting", timeout=30_000)
        found_after = time.monotonic() - frozen
    finally:
        server.process.send_signal(signal.SIGCONT)
    expect_live(page, timeout=10_000)
    record("silent-death", seconds_to_reconnecting=round(found_after, 2))
    assert found_after < 25.0


def test_round_trip_time_is_measured_over_the_pages_own_socket(
    server: LiveServer, page: Page
) -> None:
    pings: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda p: pings.append(str(p))))
    page.goto(server.url)
    expect_live(page)
    # The first probe goes out on connect, then one every 15 s while the tab is shown.
    expect(rtt(page)).to_have_text(MILLISECONDS, timeout=3_000)
    expect(rtt(page)).to_have_attribute("data-rtt-ms", re.compile(r"^\d+$"))
    ms = int(rtt(page).get_attribute("data-rtt-ms") or -1)
    assert 0 <= ms < 1_000
    assert rtt(page).text_content() == f"{ms} ms"
    # Over NiceGUI's socket.io connection (a socket.io event: 42), not a side channel.
    assert any(p.startswith("42") and '"livewatch_ping"' in p for p in pings)
    record("round-trip", rtt_ms=ms)
    # A tab shown again probes at once (it sends none while hidden).
    probes = sum('"livewatch_ping"' in p for p in pings)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    assert eventually(lambda: sum('"livewatch_ping"' in p for p in pings) > probes, timeout=2)
    expect(page.get_by_test_id("broker-state")).to_have_count(0)  # local mode: no broker


def test_a_replica_that_cannot_reach_redis_says_so(tmp_path: Path, page: Page) -> None:
    """Nobody listens at the broker's address: the replica serves on, degraded."""
    (tmp_path / "replica").mkdir()
    dead_redis = f"redis://127.0.0.1:{free_port()}"
    replica = LiveServer(tmp_path / "replica", args=["--broker", dead_redis]).start()
    try:
        page.goto(replica.url)
        expect_live(page)
        chip = page.get_by_test_id("broker-state")
        expect(chip).to_have_attribute("data-state", "degraded")
        expect(chip).to_have_text("Degraded: Redis unreachable")
        expect(chip).to_be_visible()
    finally:
        replica.stop()


def test_polling_fallback_when_the_websocket_is_refused(server: LiveServer, page: Page) -> None:
    page.add_init_script(REFUSED_WEBSOCKET % free_port())
    started = time.monotonic()
    page.goto(server.url)
    expect(status(page)).to_have_attribute("data-state", "polling", timeout=5_000)
    expect(status(page)).to_have_text("Polling fallback")
    record("polling-refused", seconds_to_yellow=round(time.monotonic() - started, 2))

    server.agents.write("poll0001", issue_number=1)  # updates still arrive, by long-polling
    expect(row(page, "poll0001")).to_be_visible(timeout=2_000)
    expect(status(page)).to_have_attribute("data-state", "polling")


def test_polling_fallback_when_the_websocket_hangs(server: LiveServer, page: Page) -> None:
    page.add_init_script(SILENT_WEBSOCKET)
    started = time.monotonic()
    page.goto(server.url)
    # socket.io's default would wait 20 s for the silent WebSocket; ours gives up after 3 s.
    expect(status(page)).to_have_attribute("data-state", "polling", timeout=8_000)
    record("polling-silent", seconds_to_yellow=round(time.monotonic() - started, 2))
    server.agents.write("poll0002", issue_number=2)
    expect(row(page, "poll0002")).to_be_visible(timeout=2_000)


def test_updated_label_ticks_in_the_browser(empty_server: LiveServer, page: Page) -> None:
    # An empty agents dir: the samples' transcripts move their "now" cells (real changes that
    # would rightly restart the label) for a while after each restart of the shared server.
    server = empty_server
    frames: list[str] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    page.goto(server.url)
    expect_live(page)
    label = page.get_by_test_id("last-updated")
    server.agents.write("tick0001", issue_number=1)
    expect(label).to_have_text("Just now", timeout=1_000)

    expect(label).to_have_text(re.compile(r"^\d+s ago$"), timeout=7_000)
    before, pushed = label.text_content(), len(frames)
    expect(label).not_to_have_text(before or "", timeout=2_000)  # a second later, by itself
    # Not engine.io pings, not acks of our round-trip probes, not the activity chart's bars.
    server_messages = [f for f in frames[pushed:] if f.startswith("42") and not is_chart_frame(f)]
    assert server_messages == [], "the label must tick without a server push"

    server.agents.update("tick0001", issue_class="/bug")
    expect(label).to_have_text("Just now", timeout=1_000)


def test_relative_times_are_right_after_a_slow_page_start(
    empty_server: LiveServer, page: Page
) -> None:
    """The page's scripts start 4 s after its render (a busy machine): the browser must not
    take those 4 s for clock skew, which kept "Just now" on screen for 9 s."""
    server = empty_server
    server.agents.write("slow0001", issue_number=1)
    page.add_init_script("(() => { const end = Date.now() + 4000; while (Date.now() < end); })()")
    page.goto(server.url, timeout=15_000)
    expect_live(page)
    label = page.get_by_test_id("last-updated")
    server.agents.update("slow0001", issue_class="/bug")
    expect(label).to_have_text("Just now", timeout=1_000)
    written = time.monotonic()
    expect(label).to_have_text(re.compile(r"^\d+s ago$"), timeout=8_000)
    assert time.monotonic() - written < 7, "the label aged as if the page started at once"


def test_dark_mode_toggle_sticks_across_pages(server: LiveServer, page: Page) -> None:
    page.goto(server.url)
    body = page.locator("body")
    expect(body).not_to_have_class(re.compile(r"body--dark"))
    page.get_by_test_id("dark-toggle").click()
    expect(body).to_have_class(re.compile(r"body--dark"))
    screenshot(page, "workflows-dark")

    page.get_by_test_id("nav-routes").click()
    expect(page).to_have_url(f"{server.url}/routes")
    expect(body).to_have_class(re.compile(r"body--dark"))
    page.get_by_test_id("dark-toggle").click()
    expect(body).not_to_have_class(re.compile(r"body--dark"))
    page.reload()
    expect_live(page)
    expect(body).not_to_have_class(re.compile(r"body--dark"))


def test_closed_tabs_release_their_subscriptions(server: LiveServer, page: Page) -> None:
    """The hub logs how many subscribers each change reached: the open tabs, and no more."""

    def subscribers_after_a_change(n: int) -> bool:
        server.agents.update("a1f3c9e2", model_set=f"probe-{time.monotonic()}")
        time.sleep(0.4)
        counts = re.findall(r"workflows update to (\d+) clients", server.log())
        return bool(counts) and int(counts[-1]) == n

    page.goto(server.url)
    other = page.context.new_page()
    other.goto(f"{server.url}/workflows/a1f3c9e2")
    expect_live(page)
    expect_live(other)
    assert eventually(lambda: subscribers_after_a_change(2), timeout=5)

    page.reload()  # a reload is a new tab for NiceGUI: the old one must let go
    expect_live(page)
    other.close()
    # NiceGUI deletes a client 3 s (its reconnect timeout) after its socket went away.
    assert eventually(lambda: subscribers_after_a_change(1), timeout=10)
