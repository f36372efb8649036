"""The `/events` page in Chromium while events flow, for `bench/events.py` (a child process).

Append→newest row shown: the page holds only the rows in view, so what a reader sees of a
2,000 events/s flow is its newest rows. Each time the feed's rows change, an observer in the
page waits for that frame to be painted (requestAnimationFrame, then a task), and stamps
`Date.now()` with the top row's summary. The parent matches the summary's marker to the
writer's `time.time()` stamp of that line: both read this machine's wall clock, so
Playwright's polling granularity is not part of the figure.

Pause: in the page, `performance.now()`, then `element.click()` on `events-pause`, then a
requestAnimationFrame loop until the button says `data-paused="true"`.
"""

from __future__ import annotations

import time
from multiprocessing.connection import Connection
from typing import Any

ROW = '[data-testid="event-row"]'
BODY = '[data-testid="events-table"] [role="rowgroup"]'

# Counts the rows in the DOM and the rows the feed keeps, at every change of the feed.
ROWS_JS = """() => {
  window.__rows = {max: 0, now: 0, kept: 0};
  const table = document.querySelector('[data-testid="events-table"]');
  const count = () => {
    const n = document.querySelectorAll('[data-testid="event-row"]').length;
    window.__rows.now = n;
    if (n > window.__rows.max) window.__rows.max = n;
    const kept = Number(table.getAttribute('data-count') || 0);
    if (kept > window.__rows.kept) window.__rows.kept = kept;
  };
  count();
  new MutationObserver(count).observe(table, {subtree: true, childList: true});
}"""

# After each change of the rows, once the frame holding it is painted: the top row's summary
# and the time (a new top row only).
NEWEST_JS = """(body) => {
  window.__newest = [];
  let last = null;
  let waiting = false;
  const stamp = () => {
    waiting = false;
    const row = document.querySelector(body).firstElementChild;
    const text = row ? row.lastElementChild.textContent : null;
    if (text !== null && text !== last) {
      last = text;
      window.__newest.push([text, Date.now()]);
    }
  };
  new MutationObserver(() => {
    if (waiting) return;
    waiting = true;
    requestAnimationFrame(() => setTimeout(stamp, 0));
  }).observe(document.querySelector(body), {childList: true});
}"""

# Clicks the pause button and waits until it says data-paused=`want` ("true": pause).
TOGGLE_JS = """async (want) => {
  const button = document.querySelector('[data-testid="events-pause"]');
  if (!button || button.getAttribute('data-paused') === want) return -1;
  const started = performance.now();
  button.click();
  while (button.getAttribute('data-paused') !== want) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    if (performance.now() - started > 5000) return -1;
  }
  return performance.now() - started;
}"""

TOP_SEQ_JS = """() => {
  const row = document.querySelector('[data-testid="event-row"]');
  return row ? Number(row.dataset.seq) : 0;
}"""


def run_browser(url: str, start_at: float, seconds: float, conn: Connection) -> None:
    """The child process: launch Chromium now, open the page at `start_at` (wall time), watch
    the newest rows for `seconds`, then send a dict of figures (or {"error": ...})."""
    try:
        result = measure(url, start_at, seconds)
    except Exception as error:  # reported in the table, never a traceback in the parent
        result = {"error": repr(error)}
    conn.send(result)
    conn.close()


def measure(url: str, start_at: float, seconds: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from livewatch.testing import chromium_launch_args

    with sync_playwright() as p:
        # Chromium starts before the flow (its launch is not what we measure); the page opens
        # during it.
        browser = p.chromium.launch(headless=True, **chromium_launch_args())  # type: ignore[arg-type]
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            navigations: list[str] = []
            page.on(
                "framenavigated",
                lambda f: navigations.append(f.url) if not f.parent_frame else None,
            )
            time.sleep(max(0.0, start_at - time.time()))
            started = time.perf_counter()
            page.goto(url + "/events", wait_until="load")
            page.wait_for_selector(ROW, timeout=60_000)
            load_s = time.perf_counter() - started
            page.evaluate(ROWS_JS)
            # The first ticks after the load catch up with what came during it: the figure is
            # the page in its steady state (its load time is reported apart).
            page.wait_for_timeout(1000)
            page.evaluate(NEWEST_JS, BODY)
            page.wait_for_timeout(seconds * 1000)
            newest = page.evaluate("() => window.__newest || []")
            paused_at = time.time()
            pause_ms = page.evaluate(TOGGLE_JS, "true")
            # Paused, the top row must stay put although events keep coming.
            top = page.evaluate(TOP_SEQ_JS)
            page.wait_for_timeout(500)
            held = page.evaluate(TOP_SEQ_JS) == top
            page.evaluate(TOGGLE_JS, "false")
            rows = page.evaluate("() => window.__rows || {max: -1, now: -1, kept: -1}")
        finally:
            browser.close()
    return {
        "newest": newest,  # [summary of the top row, ms since the epoch it was painted]
        "page_load_s": load_s,
        "pause_ms": pause_ms if pause_ms >= 0 else None,
        "paused_at": paused_at,
        "pause_held": held,
        "rows_max": rows["max"],  # -1: the page reloaded (see navigations)
        "rows_kept": rows["kept"],
        "navigations": len(navigations),
    }
