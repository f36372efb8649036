"""What each open `/events` tab costs the server, idle and at 2,000 events a second.

    python bench/event_tabs.py [--tabs 10] [--phase-s 15] [--agents 100] [--rate 20]

Starts `livewatch serve` on a temp tree (as `bench/events.py` does) and measures the server's
CPU (process tree, /proc) in phases, each `--phase-s` long:

1. idle, no tab;  2. idle, N tabs of `/events` open in one headless Chromium;
3. the flow (agents x rate lines a second), no tab;  4. the flow, N tabs shown;
5. the flow, N tabs hidden (`document.visibilityState`, as a switch of tabs makes it).

Per tab: (phase with tabs - phase without) / N, as ms of CPU a second, and at 10 feed ticks
a second, per tick (the feed's "change"). Issue 14's bound: at most 0.25 ms per change per
tab, and an idle tab at most 0.1 ms a second. Chromium's own CPU is not in these figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.event_writer import Schedule, run_writer
from bench.events import Plan, build, start_server
from bench.main import data_root
from bench.servers import ServerProcess, wait_quiet

TICKS_PER_S = 10  # pages/event_feed.py TICK_S = 0.1
SET_VISIBILITY_JS = """(state) => {
  Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def cpu_ms_per_s(server: ServerProcess, seconds: float) -> float:
    cpu0, wall0 = server.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return 1000 * (server.cpu_seconds() - cpu0) / (time.monotonic() - wall0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/event_tabs.py", description=__doc__.split("\n")[0])
    parser.add_argument("--tabs", type=int, default=10)
    parser.add_argument("--phase-s", type=float, default=15.0)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from livewatch.testing import chromium_launch_args

    plan = Plan(agents=args.agents, rate=args.rate, huge_mb=1)
    root = data_root(None)
    data = build(root, plan, 1234)
    server = start_server(data, [])
    phase = args.phase_s
    figures: dict[str, float] = {}
    try:
        wait_quiet(server)
        with sync_playwright() as p:
            browser = p.chromium.launch(headless=True, **chromium_launch_args())  # type: ignore[arg-type]
            figures["idle, no tab"] = cpu_ms_per_s(server, phase)
            pages = [browser.new_page() for _ in range(args.tabs)]
            for page in pages:
                page.goto(server.url + "/events", wait_until="load")
            time.sleep(3)
            figures[f"idle, {args.tabs} tabs"] = cpu_ms_per_s(server, phase)
            # The flow: from here on, for the three phases that follow (and a margin).
            context = multiprocessing.get_context("fork")
            schedule = Schedule(plan.agents, plan.rate, 4 * phase + 10, time.time() + 1)
            _end, conn = context.Pipe(duplex=False)
            writer = context.Process(target=run_writer, args=(data.transcripts, schedule, conn))
            for page in pages:
                page.evaluate(SET_VISIBILITY_JS, "hidden")
            writer.start()
            time.sleep(3)
            # Hidden tabs are sent nothing: the nearest to "no tab" with the tabs still open.
            figures[f"flow, {args.tabs} tabs hidden"] = cpu_ms_per_s(server, phase)
            for page in pages:
                page.evaluate(SET_VISIBILITY_JS, "visible")
            time.sleep(2)
            figures[f"flow, {args.tabs} tabs shown"] = cpu_ms_per_s(server, phase)
            for page in pages:
                page.close()
            time.sleep(2)
            figures["flow, no tab"] = cpu_ms_per_s(server, phase)
            writer.terminate()
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    n = args.tabs
    idle_tab = (figures[f"idle, {n} tabs"] - figures["idle, no tab"]) / n
    shown_tab = (figures[f"flow, {n} tabs shown"] - figures["flow, no tab"]) / n
    hidden_tab = (figures[f"flow, {n} tabs hidden"] - figures["flow, no tab"]) / n
    print(
        f"\n{plan.agents} agents x {plan.rate:g} lines/s, {n} tabs of /events, {phase:g} s/phase\n"
    )
    for name, value in figures.items():
        print(f"server CPU, {name:<24} {value:8.1f} ms/s")
    print(f"per idle tab                          {idle_tab:8.3f} ms/s   (target ≤ 0.1)")
    print(
        f"per shown tab under the flow          {shown_tab:8.3f} ms/s = "
        f"{shown_tab / TICKS_PER_S:.3f} ms per tick (target ≤ 0.25 per change)"
    )
    print(f"per hidden tab under the flow         {hidden_tab:8.3f} ms/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
