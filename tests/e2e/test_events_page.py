"""Agent events in Chromium: the `/events` feed, a workflow's "Now" cell, its transcripts."""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from livewatch.testing import LiveServer

from .helpers import choose, eventually, expect_live, row, screenshot

RUNNING = "c38e51a7"  # a sample workflow in its test phase
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
SECRET = "sk-ant-api03-e2e0000000000000000000000000000"


def transcript(server: LiveServer, adw_id: str, agent: str) -> Path:
    return server.agents_dir / adw_id / agent / "raw_output.jsonl"


def append(path: Path, *lines: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


def tool_use(msg_id: str, tool_id: str, name: str, **tool_input: str) -> dict:
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}
    message = {"id": msg_id, "role": "assistant", "content": [block],
               "usage": {"input_tokens": 10, "output_tokens": 2}}  # fmt: skip
    return {"type": "assistant", "message": message, "session_id": "e2e"}


def said(msg_id: str, text: str) -> dict:
    message = {"id": msg_id, "role": "assistant", "content": [{"type": "text", "text": text}]}
    return {"type": "assistant", "message": message, "session_id": "e2e"}


def event_rows(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("event-row")


def pulse_bars(page: Page) -> list[int]:
    """The bars the pulse chart draws, read from its ECharts instance in the browser."""
    chart = page.get_by_test_id("events-pulse-chart").element_handle()
    return page.evaluate("(el) => getElement(el).chart.getOption().series[0].data", chart)


def newest_bar(page: Page) -> int:
    """Where the newest non-empty bar sits: 59 is this second, 58 the one before..."""
    return max((i for i, count in enumerate(pulse_bars(page)) if count), default=-1)


def test_the_pulse_moves_left_in_the_browser_with_nothing_sent(
    server: LiveServer, page: Page
) -> None:
    pushes: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived", lambda p: pushes.append(str(p)) if "lwSlide" in str(p) else None
        ),
    )
    page.goto(f"{server.url}/events")
    expect_live(page)
    expect(page.get_by_test_id("events-pulse-chart").locator("canvas")).to_be_visible()
    before = sum(pulse_bars(page))  # the samples' transcripts, read at start-up
    append(transcript(server, RUNNING, "test_runner"), said("p1", "one"), said("p2", "two"))
    assert eventually(lambda: sum(pulse_bars(page)) == before + 2, timeout=5)
    time.sleep(1.2)  # the push of the second they came in, if it was still filling
    sent, at = len(pushes), newest_bar(page)
    assert at >= 56  # they came in the last seconds
    time.sleep(3)
    # The bars moved left by the browser's clock; the server sent no new bars meanwhile.
    assert newest_bar(page) <= at - 2
    assert len(pushes) == sent
    assert sum(pulse_bars(page)) == before + 2


def test_the_feed_shows_new_events_live_and_escaped(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/events")
    expect_live(page)
    expect(event_rows(page).first).to_be_visible()  # the samples' transcripts
    expect(page.get_by_test_id("events-pulse-chart")).to_be_visible()
    expect(page.get_by_test_id("events-rate")).to_contain_text("events/s")

    append(transcript(server, RUNNING, "test_runner"), said("e1", HOSTILE))
    newest = event_rows(page).first
    expect(newest).to_contain_text(HOSTILE, timeout=5_000)  # shown as text, not markup
    expect(newest).to_have_attribute("data-adw-id", RUNNING)
    expect(newest).to_have_attribute("data-kind", "message")
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "events")


def test_pause_holds_the_feed_and_resume_catches_up(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/events")
    expect_live(page)
    pause = page.get_by_test_id("events-pause")
    pause.click()
    expect(pause).to_have_attribute("data-paused", "true")
    top = event_rows(page).first.get_attribute("data-seq")
    append(transcript(server, RUNNING, "test_runner"), tool_use("e2", "t2", "Bash", command="ls"))
    expect(page.get_by_test_id("events-missed")).to_be_visible(timeout=5_000)
    assert event_rows(page).first.get_attribute("data-seq") == top
    pause.click()
    expect(event_rows(page).first).to_have_attribute("data-tool", "Bash", timeout=5_000)


def test_the_feed_keeps_300_rows_but_builds_only_those_in_view(
    server: LiveServer, page: Page
) -> None:
    page.goto(f"{server.url}/events")
    expect_live(page)
    lines = [said(f"bulk{n}", f"bulk-{n:04d}-end") for n in range(400)]
    append(transcript(server, RUNNING, "test_runner"), *lines)
    expect(event_rows(page).first).to_contain_text("bulk-0399-end", timeout=5_000)
    table = page.get_by_test_id("events-table")
    expect(table).to_have_attribute("data-count", "300")
    assert event_rows(page).count() < 60  # a screenful, not 300

    # Scrolled to the end: the oldest row kept, built on demand.
    scroller = table.locator(".lw-feed-scroll")
    scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(event_rows(page).last).to_contain_text("bulk-0100-end")
    assert event_rows(page).count() < 60

    # Scrolled into the middle, a new row does not move the rows being read.
    scroller.evaluate("el => { el.scrollTop = 100 * 26; }")
    at = scroller.evaluate("el => el.scrollTop")
    append(transcript(server, RUNNING, "test_runner"), said("bulk400", "bulk-0400-end"))
    page.wait_for_function(f"() => document.querySelector('.lw-feed-scroll').scrollTop > {at}")
    assert scroller.evaluate("el => el.scrollTop") == at + 26


def test_every_open_feed_gets_each_tick_from_one_shared_message(
    server: LiveServer, page: Page
) -> None:
    second = page.context.new_page()
    for tab in (page, second):
        tab.goto(f"{server.url}/events")
        expect_live(tab)
    path = transcript(server, RUNNING, "test_runner")
    # The first rows after a page's load go through its own outbox (after its first window);
    # from the next tick on, one socket.io message serves every tab on the filter.
    for n in (1, 2, 3):
        append(path, said(f"shared{n}", f"shared tick {n}"))
        for tab in (page, second):
            expect(event_rows(tab).first).to_contain_text(f"shared tick {n}", timeout=5_000)
    assert event_rows(second).filter(has_text="shared tick 2").count() == 1  # not twice
    second.close()


def test_filters_narrow_the_feed(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/events")
    expect_live(page)
    choose(page, "events-filter-kind", "tool_use")
    expect(event_rows(page).first).to_have_attribute("data-kind", "tool_use")
    kinds = {r.get_attribute("data-kind") for r in event_rows(page).all()}
    assert kinds == {"tool_use"}
    append(transcript(server, RUNNING, "test_runner"), said("e3", "not a tool call"))
    append(transcript(server, RUNNING, "test_runner"), tool_use("e4", "t4", "Grep", pattern="xyz"))
    expect(event_rows(page).first).to_have_attribute("data-tool", "Grep", timeout=5_000)
    assert {r.get_attribute("data-kind") for r in event_rows(page).all()} == {"tool_use"}


def test_a_running_workflow_shows_its_agent_at_work(server: LiveServer, page: Page) -> None:
    page.goto(server.url)
    expect_live(page)
    append(
        transcript(server, RUNNING, "test_runner"),
        tool_use("e5", "t5", "Edit", file_path="app/server.py"),
    )
    now = row(page, RUNNING).get_by_test_id("now-activity")
    expect(now).to_have_attribute("data-tool", "Edit", timeout=5_000)
    expect(now).to_have_attribute("data-agent", "test_runner")
    expect(now).to_contain_text("Edit app/server.py")
    expect(row(page, RUNNING).get_by_test_id("workflow-tokens")).to_contain_text(" in")


def test_the_detail_page_follows_each_agents_transcript(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.url}/workflows/{RUNNING}")
    expect_live(page)
    runner = page.locator('[data-testid="transcript"][data-agent="test_runner"]')
    expect(runner).to_be_visible()
    command = f"curl -H 'Authorization: Bearer {SECRET}' https://example.com"
    append(
        transcript(server, RUNNING, "test_runner"), tool_use("e6", "t6", "Bash", command=command)
    )
    line = runner.get_by_test_id("transcript-line").filter(has_text="https://example.com")
    expect(line).to_have_attribute("data-tool", "Bash", timeout=5_000)
    expect(line).not_to_contain_text(SECRET)
    line.locator(".lw-line-head").click()
    payload = line.get_by_test_id("transcript-payload")
    expect(payload).to_contain_text('"name": "Bash"')
    expect(payload).not_to_contain_text(SECRET)

    # A new agent gets a transcript of its own, without a reload.
    append(transcript(server, RUNNING, "reviewer"), said("e7", "Reviewing the diff."))
    expect(page.locator('[data-testid="transcript"][data-agent="reviewer"]')).to_be_visible(
        timeout=5_000
    )
    screenshot(page, "transcripts")


# Makes the tab look hidden (or shown again) to the page, as a switch of tabs would.
SET_VISIBILITY_JS = """(state) => {
  Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_hidden_tab_is_sent_nothing_and_catches_up_when_shown(
    server: LiveServer, page: Page
) -> None:
    page.goto(f"{server.url}/events")
    expect_live(page)
    expect(event_rows(page).first).to_be_visible()
    page.evaluate(SET_VISIBILITY_JS, "hidden")
    page.wait_for_timeout(300)  # the server hears of it before the line below is written
    append(transcript(server, RUNNING, "test_runner"), said("e8", "written while hidden"))
    page.wait_for_timeout(1_000)  # ten ticks: a shown tab would have it by now
    assert event_rows(page).filter(has_text="written while hidden").count() == 0
    page.evaluate(SET_VISIBILITY_JS, "visible")
    expect(event_rows(page).filter(has_text="written while hidden")).to_have_count(1)
