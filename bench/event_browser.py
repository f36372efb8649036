"""The `/events` page in Chromium while events flow, for `bench/events.py` (a child process).

Append→DOM: a MutationObserver in the page stamps `Date.now()` when a
`[data-testid="event-row"]` first holds a probe line's marker. The append is
stamped with `time.time()` just before its write: both read this machine's wall clock, so
Playwright's polling granularity is not part of the figure.

A probe row that comes after MISS_MS is waited for no longer, but the page keeps looking for
it: it is reported late (with its time), or never (cut by the page's row cap, or lost).

Pause: in the page, `performance.now()`, then `element.click()` on `events-pause`, then a
requestAnimationFrame loop until the button says `data-paused="true"`.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.event_writer import text_line

ROW = '[data-testid="event-row"]'
MISS_MS = 3000  # ten times the target: a row that takes longer counts as missed

# Counts the rows the page keeps, at every change of the DOM, from page load on.
ROWS_JS = """() => {
  window.__rows = {max: 0, now: 0};
  const count = () => {
    const n = document.querySelectorAll('[data-testid="event-row"]').length;
    window.__rows.now = n;
    if (n > window.__rows.max) window.__rows.max = n;
  };
  count();
  new MutationObserver(count).observe(document.body, {subtree: true, childList: true});
}"""

# One observer for every probe: on each change of the DOM, each marker not yet seen is looked
# for in the rows, and stamped with Date.now() when first found. A marker found after the
# sample gave up (MISS_MS) still gets its time: late, not lost.
FIND_JS = """() => {
  window.__found = new Map();
  new MutationObserver(() => {
    let texts = null;
    for (const [marker, at] of window.__found) {
      if (at) continue;
      texts = texts || Array.from(
        document.querySelectorAll('[data-testid="event-row"]'), (row) => row.textContent);
      if (texts.some((text) => text.includes(marker))) window.__found.set(marker, Date.now());
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""

# Returns false when a row already holds the marker (the sample would mean nothing), or when
# the page reloaded (NiceGUI reloads a tab whose server-side client is gone) and lost its
# observers: they are set up again, and that sample is skipped.
WATCH_JS = """(marker) => {
  if (!window.__found) return false;
  for (const row of document.querySelectorAll('[data-testid="event-row"]')) {
    if (row.textContent.includes(marker)) return false;
  }
  window.__found.set(marker, 0);
  return true;
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

# What the page found so far ({} after a reload: the earlier finds are kept in Python).
FOUND_JS = "() => window.__found ? Object.fromEntries(window.__found) : {}"

TOP_SEQ_JS = """() => {
  const row = document.querySelector('[data-testid="event-row"]');
  return row ? Number(row.dataset.seq) : 0;
}"""


def run_browser(
    url: str, probe: Path, start_at: float, samples: int, conn: Connection, *, warmup: int = 2
) -> None:
    """The child process: launch Chromium now, open the page at `start_at` (wall time), measure,
    then send a dict of figures (or {"error": ...})."""
    try:
        result = measure(url, probe, start_at, samples, warmup=warmup)
    except Exception as error:  # reported in the table, never a traceback in the parent
        result = {"error": repr(error)}
    conn.send(result)
    conn.close()


def measure(url: str, probe: Path, start_at: float, samples: int, *, warmup: int) -> dict[str, Any]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    from livewatch.testing import chromium_launch_args

    rng = random.Random(os.getpid())
    nonce = f"{rng.getrandbits(32):08x}"
    written: dict[str, float] = {}
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
            page.evaluate(FIND_JS)
            page.wait_for_timeout(1000)
            found: dict[str, int] = {}
            for index in range(warmup + samples):
                marker = f"b-{index}-{nonce}"
                if not page.evaluate(WATCH_JS, marker):
                    if page.evaluate("() => !window.__found"):  # reloaded: keep what it saw
                        page.wait_for_selector(ROW, timeout=60_000)
                        page.evaluate(ROWS_JS)
                        page.evaluate(FIND_JS)
                    continue
                page.wait_for_timeout(rng.uniform(100, 250))
                line = text_line(f"msg_probe_{nonce}_{index}", f"probe {marker}")
                if index >= warmup:
                    written[marker] = time.time()
                with open(probe, "ab") as out:
                    out.write(line)
                with contextlib.suppress(PlaywrightTimeout):
                    page.wait_for_function(
                        "(m) => !window.__found || window.__found.get(m) > 0",
                        arg=marker,
                        timeout=MISS_MS,
                    )
                found.update(page.evaluate(FOUND_JS))
            paused_at = time.time()
            pause_ms = page.evaluate(TOGGLE_JS, "true")
            # Paused, the top row must stay put although events keep coming.
            top = page.evaluate(TOP_SEQ_JS)
            page.wait_for_timeout(500)
            held = page.evaluate(TOP_SEQ_JS) == top
            # Resumed, late rows may still come: give them a few seconds.
            page.evaluate(TOGGLE_JS, "false")
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(
                    "() => !window.__found || [...window.__found.values()].every((at) => at > 0)",
                    timeout=10_000,
                )
            found.update(page.evaluate(FOUND_JS))
            rows = page.evaluate("() => window.__rows || {max: -1, now: -1}")
        finally:
            browser.close()
    probes = [
        {"written": at, "dom_s": found[m] / 1000 - at if found.get(m) else None}
        for m, at in written.items()
    ]
    return {
        "probes": probes,
        "page_load_s": load_s,
        "pause_ms": pause_ms if pause_ms >= 0 else None,
        "paused_at": paused_at,
        "pause_held": held,
        "rows_max": rows["max"],  # -1: the page reloaded (see navigations)
        "rows_now": rows["now"],
        "navigations": len(navigations),
    }
