"""What each open `/events` tab costs the server, idle and at 2,000 events a second.

    python bench/event_tabs.py [--tabs 10] [--phase-s 10] [--cycles 3] [--agents 100] [--rate 20]

Starts `livewatch serve` on a temp tree (as `bench/events.py` does) and measures the server's
CPU (process tree, /proc) in phases, each `--phase-s` long:

1. idle, no tab;  2. idle, N tabs of `/events` open;
3. the flow (agents x rate lines a second) with the N tabs, after a warm-up: the tabs hidden
   (they say so, as the page does when its `document.visibilityState` turns hidden, and are
   sent nothing) and shown, in turn, `--cycles` times, the order swapped every cycle, so a
   drift in what the flow costs (the first reads of every transcript, the store growing)
   falls on both.

The tabs are lightweight clients (`bench/tab_clients.py`): a page load, then the page's own
socket.io session, taking every frame the server pushes, rendering nothing. Real Chromium tabs
would not do here: ten shown `/events` tabs at 2,000 events/s want more than this machine's two
cores, so the server and the writer would be starved in the "shown" phases and cost less.

Per tab: idle (2 - 1) / N; under the flow (shown - hidden) / N, per pair of phases, as ms of
CPU a second and, at 10 feed ticks a second, per tick (the feed's "change"). Issue 14's bound:
at most 0.25 ms per change per tab, and an idle tab at most 0.1 ms a second.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.event_writer import Schedule, run_writer
from bench.events import Data, Plan, build, start_server
from bench.main import data_root
from bench.servers import ServerProcess, wait_quiet
from bench.tab_clients import open_tabs

TICKS_PER_S = 10  # pages/event_feed.py TICK_S = 0.1


async def cpu_ms_per_s(server: ServerProcess, seconds: float) -> float:
    """Server CPU over `seconds`, with the event loop running so the tabs take their frames."""
    cpu0, wall0 = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return 1000 * (server.cpu_seconds() - cpu0) / (time.monotonic() - wall0)


async def phases(
    server: ServerProcess, data: Data, plan: Plan, args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, list[float]], int]:
    phase = args.phase_s
    figures: dict[str, float] = {}
    runs: dict[str, list[float]] = {"hidden": [], "visible": []}
    figures["idle, no tab"] = await cpu_ms_per_s(server, phase)
    tabs = await open_tabs(server.url, args.tabs, path="/events", keep=False)
    await asyncio.sleep(3)
    figures[f"idle, {args.tabs} tabs"] = await cpu_ms_per_s(server, phase)
    # The flow, from here to the end (and a margin).
    flow_s = args.warmup_s + args.cycles * 2 * (phase + 2) + 10
    context = multiprocessing.get_context("fork")
    schedule = Schedule(plan.agents, plan.rate, flow_s, time.time() + 1)
    receiver, conn = context.Pipe(duplex=False)
    writer = context.Process(target=run_writer, args=(data.transcripts, schedule, conn))
    writer.start()
    try:
        await asyncio.sleep(args.warmup_s)  # the first read of every transcript is no tab's
        frames = sum(t.count for t in tabs)
        for cycle in range(args.cycles):
            for state in ("hidden", "visible") if cycle % 2 == 0 else ("visible", "hidden"):
                for tab in tabs:
                    await tab.show(state == "visible")
                await asyncio.sleep(2)  # a tab shown again first gets a fresh window
                runs[state].append(await cpu_ms_per_s(server, phase))
        frames = sum(t.count for t in tabs) - frames
        lost = sum(1 for t in tabs if not t.connected)
    finally:
        writer.terminate()
        receiver.close()
        for tab in tabs:
            await tab.close()
    if lost:
        raise RuntimeError(f"{lost} of the tabs lost their session")
    return figures, runs, frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/event_tabs.py", description=__doc__.split("\n")[0])
    parser.add_argument("--tabs", type=int, default=10)
    parser.add_argument("--phase-s", type=float, default=10.0)
    parser.add_argument("--cycles", type=int, default=3, help="hidden/shown pairs under the flow")
    parser.add_argument("--warmup-s", type=float, default=15.0)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args(argv)
    plan = Plan(agents=args.agents, rate=args.rate, huge_mb=1)
    root = data_root(None)
    data = build(root, plan, 1234)
    server = start_server(data, [])
    phase = args.phase_s
    try:
        wait_quiet(server)
        figures, runs, frames = asyncio.run(phases(server, data, plan, args))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    n = args.tabs
    figures[f"flow, {n} tabs hidden (mean)"] = statistics.fmean(runs["hidden"])
    figures[f"flow, {n} tabs shown (mean)"] = statistics.fmean(runs["visible"])
    idle_tab = (figures[f"idle, {n} tabs"] - figures["idle, no tab"]) / n
    pairs = zip(runs["visible"], runs["hidden"], strict=True)
    per_tab = [(shown - hidden) / n for shown, hidden in pairs]
    shown_tab = statistics.fmean(per_tab)
    print(
        f"\n{plan.agents} agents x {plan.rate:g} lines/s, {n} tabs of /events, {phase:g} s/phase, "
        f"{args.cycles} cycles\n"
    )
    for name, value in figures.items():
        print(f"server CPU, {name:<30} {value:8.1f} ms/s")
    print("hidden phases: " + ", ".join(f"{v:.0f}" for v in runs["hidden"]) + " ms/s")
    print("shown phases:  " + ", ".join(f"{v:.0f}" for v in runs["visible"]) + " ms/s")
    print(f"frames the tabs got under the flow: {frames:,}")
    print(f"per idle tab                    {idle_tab:8.3f} ms/s   (target ≤ 0.1)")
    print(
        f"per shown tab under the flow    {shown_tab:8.3f} ms/s = "
        f"{shown_tab / TICKS_PER_S:.3f} ms per tick (target ≤ 0.25 per change); "
        "by cycle: " + ", ".join(f"{t / TICKS_PER_S:.3f}" for t in per_tab)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
