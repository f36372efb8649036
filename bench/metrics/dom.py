"""Metric 6: from a file write to the changed row in Chromium's DOM (livewatch's `/` page).

A MutationObserver, installed before each write, stamps `Date.now()` when the row
`[data-testid="workflow-row"][data-adw-id=<id>]` first shows the new issue number, and again
at the next animation frame (the paint that shows it). The write is stamped with
`time.time()`: both read the same wall clock of this machine.
"""

from __future__ import annotations

import time
from typing import Any

from bench.metrics import Bench
from bench.servers import ServerProcess
from livewatch.testing import chromium_launch_args

ROW = '[data-testid="workflow-row"]'

# Returns false when the row already shows the text (the sample would mean nothing).
WATCH_JS = """([id, text]) => {
  window.__lw = {done: 0, paint: 0};
  const sel = `[data-testid="workflow-row"][data-adw-id="${id}"]`;
  const shows = () => {
    const row = document.querySelector(sel);
    return !!row && row.textContent.includes(text);
  };
  if (shows()) return false;
  const observer = new MutationObserver(() => {
    if (window.__lw.done || !shows()) return;
    window.__lw.done = Date.now();
    observer.disconnect();
    requestAnimationFrame(() => { window.__lw.paint = Date.now(); });
  });
  observer.observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
  return true;
}"""


def dom_latency(
    bench: Bench, server: ServerProcess, samples: int, *, warmup: int = 3
) -> dict[str, Any]:
    """Write→DOM and write→next-frame latencies, in seconds, for `samples` changes."""
    from playwright.sync_api import sync_playwright

    dom: list[float] = []
    paint: list[float] = []
    missed = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(headless=True, **chromium_launch_args())  # type: ignore[arg-type]
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(server.url + "/", wait_until="load")
            page.wait_for_selector(ROW, timeout=60_000)
            load_s = time.perf_counter() - started
            page.wait_for_timeout(1000)
            for index in range(warmup + samples):
                visible = page.eval_on_selector_all(ROW, "rows => rows.map(r => r.dataset.adwId)")
                adw_id = bench.rng.choice(visible)
                tmp, target, number = bench.mutator.prepare(adw_id)
                if not page.evaluate(WATCH_JS, [adw_id, f"#{number}"]):
                    continue
                page.wait_for_timeout(bench.rng.uniform(100, 250))
                written = time.time()
                bench.mutator.commit(tmp, target)
                try:
                    page.wait_for_function("() => window.__lw.paint > 0", timeout=10_000)
                except Exception:
                    missed += 1
                    continue
                done_ms, paint_ms = page.evaluate("() => [window.__lw.done, window.__lw.paint]")
                if index >= warmup:
                    dom.append(done_ms / 1000 - written)
                    paint.append(paint_ms / 1000 - written)
        finally:
            browser.close()
    return {"dom": dom, "paint": paint, "missed": missed, "page_load_s": load_s}
