"""The workflows page at team scale: N open tabs of `/`, and what each costs the server.

    python -m bench.tabs                       # 2,000 and 10,000 workflows, 1/10/50/100 tabs
    python -m bench.tabs --quick               # a small tree, a few tabs: a smoke run
    python -m bench.tabs --load                # also 100 tabs, 10,000 workflows, 20 changes/s, 60 s

Tabs are lightweight clients (bench/tab_clients.py): a page load, then NiceGUI's socket.io
session, with no rendering. For each tree size the tab count grows step by step on one server;
at each step: idle CPU (server process tree, utime+stime from /proc), RSS, then changes one at
a time (a state file renamed over, which moves that row to the top of every tab) for CPU per
change (idle subtracted), write → frame latency in every tab and bytes per tab; then every tab
sorts by id and a change off the first page gives the off-page bytes. Timings on a shared
machine are noisy: compare runs made back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import proc
from bench.data import Mutator, build_tree
from bench.load import Background
from bench.metrics.dom import ROW, WATCH_JS
from bench.report import BUSY_PCT
from bench.servers import CLOCK_TICKS, ServerProcess, livewatch_server, wait_quiet
from bench.stats import percentile
from bench.tab_clients import Tab, open_tabs
from livewatch.testing import chromium_launch_args

# The figures for today (2,000 workflows, real Chromium tabs): ms CPU per change,
# ms CPU per second idle, write → DOM p50 ms, by open tabs.
TODAY: dict[int, tuple[float, float, float]] = {
    1: (1.9, 4.7, 25),
    10: (16.5, 10.6, 128),
    25: (38.3, 16.8, 318),
    50: (72.2, 22.0, 739),
}
TODAY_MS_PER_TAB = 1.4  # the low end of "1.4-1.9 ms per tab per change"
TODAY_IDLE_MS_PER_TAB = 0.45
TODAY_BYTES = {"on_page": 7000, "off_page": 106}
SETTLE_S = 0.4  # after the last tab saw a change: trailing frames of the same render


@dataclass
class Step:
    """One tree size and tab count."""

    workflows: int
    tabs: int
    idle_ms_per_s: float = 0.0
    rss_mb: float = 0.0
    change_cpu_ms: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    bytes_on_page: float = 0.0
    bytes_off_page: float = 0.0
    idle_tree_ms_per_s: float = 0.0  # with the watch child
    lost_tabs: int = 0  # tabs whose socket.io session dropped (a missed ping on a busy host)
    rss_zero_mb: float = 0.0  # with no tab open: what the tabs add is measured from here
    idle_zero_ms_per_s: float = 0.0
    idle_disturbed: bool = False  # other processes or the host took CPU in every idle window

    def row(self) -> dict[str, Any]:
        return {
            "workflows": self.workflows,
            "tabs": self.tabs,
            "cpu_per_change_ms": round(self.change_cpu_ms, 2),
            "idle_cpu_ms_per_s": round(self.idle_ms_per_s, 2),
            "idle_tree_cpu_ms_per_s": round(self.idle_tree_ms_per_s, 2),
            "rss_mb": round(self.rss_mb, 1),
            "latency_p50_ms": round(percentile(self.latencies_ms, 50), 1),
            "latency_p95_ms": round(percentile(self.latencies_ms, 95), 1),
            "bytes_per_tab_on_page": round(self.bytes_on_page),
            "bytes_per_tab_off_page": round(self.bytes_off_page),
            "lost_tabs": self.lost_tabs,
            "idle_disturbed": self.idle_disturbed,
        }


def main_cpu_seconds(server: ServerProcess) -> float:
    """The server's own process: where NiceGUI keeps the tabs. The watch child's CPU does not
    depend on tabs, and on a host short of inotify watches it polls, which would bury them."""
    return proc.cpu_ticks(server.pid) / CLOCK_TICKS


def cpu_rate(server: ServerProcess, seconds: float) -> tuple[float, float]:
    """Server CPU over `seconds` of wall time, in ms per second: its own process, and its tree."""
    before, tree, started = main_cpu_seconds(server), server.cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - started
    return (
        1000 * (main_cpu_seconds(server) - before) / wall,
        1000 * (server.cpu_seconds() - tree) / wall,
    )


def quiet_cpu_rate(
    server: ServerProcess, seconds: float, tries: int = 3
) -> tuple[float, float, bool]:
    """`cpu_rate` over a window that other processes and the host (steal) left alone: a
    disturbed window is taken again, up to `tries` times. The last says whether it was
    still disturbed. (One 30 s window read 292 ms/s for 10 idle tabs; the next run, 8.)"""
    disturbed = True
    for _ in range(tries):
        monitor = Background().start()
        own, tree = cpu_rate(server, seconds)
        load = monitor.stop()
        disturbed = load["others_pct"] > BUSY_PCT or load["steal_pct"] > BUSY_PCT
        if not disturbed:
            break
        print(
            f"idle window disturbed (others {load['others_pct']:.0f} %, steal "
            f"{load['steal_pct']:.0f} % of a core); measuring again",
            file=sys.stderr,
        )
    return own, tree, disturbed


async def wait_ready(server: ServerProcess, timeout: float = 600.0) -> None:
    """Up, verified, and its history backfilled: a first start at 10,000 workflows spends
    half a minute on both, which is no tab's cost (it made the first step's CPU negative)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if not server.alive():
                raise RuntimeError(f"server exited:\n{server.log_tail()}")
            try:
                answer = await http.get(server.url + "/healthz")
                health = answer.json() if answer.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                health = {}
            backfill = ((health.get("history") or {}).get("backfill") or {}).get("state")
            if health and not health.get("verifying") and backfill not in ("waiting", "running"):
                return
            await asyncio.sleep(0.2)
    raise TimeoutError("the server did not come up")


async def one_change(
    tabs: list[Tab], mutator: Mutator, adw_id: str, timeout: float = 10.0
) -> list[float]:
    """Rename one state file over; the ms until each tab got the frame carrying it."""
    tmp, target, number = mutator.prepare(adw_id)
    waiters = [tab.expect(f"#{number}") for tab in tabs if tab.connected]
    started = time.perf_counter()
    mutator.commit(tmp, target)
    done, _ = await asyncio.wait(waiters, timeout=timeout)
    return [1000 * (w.result() - started) for w in waiters if w in done]


async def changes(
    server: ServerProcess, tabs: list[Tab], mutator: Mutator, ids: list[str], count: int
) -> tuple[float, float, list[float], float]:
    """`count` changes one at a time: the server CPU they took (ms, idle included), the wall
    time (s), every tab's latency, and the bytes each tab got per change."""
    latencies: list[float] = []
    cpu_before, started = main_cpu_seconds(server), time.perf_counter()
    for adw_id in random.Random(len(tabs)).sample(ids, count):
        latencies += await one_change(tabs, mutator, adw_id)
        await asyncio.sleep(SETTLE_S)
    wall = time.perf_counter() - started
    cpu_ms = 1000 * (main_cpu_seconds(server) - cpu_before)
    live = [tab for tab in tabs if tab.connected]
    received = sum(tab.bytes_since(started) for tab in live)
    return cpu_ms, wall, latencies, received / count / max(1, len(live))


async def off_page_bytes(
    tabs: list[Tab], mutator: Mutator, ids: list[str], wait_s: float = 1.0
) -> float:
    """Every tab sorted by id (page 1 is the first 25 ids); a change far down the list."""
    for tab in tabs:
        await tab.sort("adw_id", descending=False)
    await asyncio.sleep(wait_s)
    started = time.perf_counter()
    tmp, target, _ = mutator.prepare(sorted(ids)[-1])
    mutator.commit(tmp, target)
    await asyncio.sleep(wait_s)
    live = [tab for tab in tabs if tab.connected]
    total = sum(tab.bytes_since(started) for tab in live) / max(1, len(live))
    for tab in tabs:
        await tab.sort("updated", descending=True)
    await asyncio.sleep(wait_s)
    return total


def _watch(page: Any, adw_id: str, text: str) -> bool:
    """Install the row watcher in a tab; False when the tab is reloading (it is then skipped)."""
    try:
        return bool(page.evaluate(WATCH_JS, [adw_id, text]))
    except Exception:
        page.wait_for_selector(ROW, timeout=60_000)
        return False


def chromium_tabs(url: str, mutator: Mutator, count: int, samples: int) -> dict[str, Any]:
    """`count` real Chromium tabs of `/` in one browser; per change, write → DOM in each
    (a MutationObserver per tab stamps the moment its row shows the new issue number)."""
    from playwright.sync_api import sync_playwright

    latencies: list[float] = []
    missed = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(headless=True, **chromium_launch_args())  # type: ignore[arg-type]
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            pages = [context.new_page() for _ in range(count)]
            for page in pages:
                page.goto(url + "/", wait_until="load")
                page.wait_for_selector(ROW, timeout=60_000)
            pages[0].wait_for_timeout(2000)
            rng = random.Random(count)
            for _ in range(samples):
                shown = pages[0].eval_on_selector_all(ROW, "rows => rows.map(r => r.dataset.adwId)")
                adw_id = rng.choice(shown[1:] or shown)
                tmp, target, number = mutator.prepare(adw_id)
                watching = [p for p in pages if _watch(p, adw_id, f"#{number}")]
                missed += len(pages) - len(watching)
                written = time.time()
                mutator.commit(tmp, target)
                for page in watching:
                    try:
                        page.wait_for_function("() => window.__lw.done > 0", timeout=10_000)
                        latencies.append(page.evaluate("() => window.__lw.done") - 1000 * written)
                    except Exception:  # NiceGUI reloaded the tab (a socket lost on a busy host)
                        missed += 1
                pages[0].wait_for_timeout(300)
        finally:
            browser.close()
    return {
        "tabs": count,
        "changes": samples,
        "missed": missed,
        "dom_p50_ms": round(percentile(latencies, 50), 1),
        "dom_p95_ms": round(percentile(latencies, 95), 1),
    }


async def scenario(
    workflows: int,
    tab_counts: list[int],
    root: Path,
    *,
    changes_per_step: int,
    idle_s: float,
    chromium: int = 0,
    result: dict[str, Any] | None = None,
    wait_s: float = 1.0,
) -> list[Step]:
    """The lightweight tab steps on one server; first, with `chromium`, real Chromium tabs."""
    tree = build_tree(root, workflows, seed=workflows)
    mutator = Mutator(tree.agents_dir)
    server = livewatch_server(tree.agents_dir, root, [])
    server.spawn()
    steps: list[Step] = []
    tabs: list[Tab] = []
    try:
        await wait_ready(server)
        wait_quiet(server, limit_s=min(15.0, 5 * idle_s))
        idle_zero, _, _ = quiet_cpu_rate(server, idle_s)
        if chromium and result is not None:
            result["chromium"] = await asyncio.to_thread(
                chromium_tabs, server.url, mutator, chromium, changes_per_step
            )
            print(json.dumps(result["chromium"]), flush=True)
        rss_zero = server.rss_mb()
        for count in tab_counts:
            tabs += await open_tabs(server.url, count - len(tabs))
            await asyncio.sleep(2 * wait_s)  # the tabs' first frames (time zone, chart) settle
            step = Step(workflows, count)
            (
                step.idle_ms_per_s,
                step.idle_tree_ms_per_s,
                step.idle_disturbed,
            ) = await asyncio.to_thread(quiet_cpu_rate, server, idle_s)
            step.rss_mb = server.rss_mb()
            cpu_ms, wall, step.latencies_ms, step.bytes_on_page = await changes(
                server, tabs, mutator, tree.ids, changes_per_step
            )
            # The idle CPU over the same wall time is not the changes' own.
            step.change_cpu_ms = (cpu_ms - step.idle_ms_per_s * wall) / changes_per_step
            step.bytes_off_page = await off_page_bytes(tabs, mutator, tree.ids, wait_s)
            step.lost_tabs = sum(not tab.connected for tab in tabs)
            steps.append(step)
            print(json.dumps(step.row()), flush=True)
            if step.lost_tabs:
                reasons = Counter(tab.lost for tab in tabs if not tab.connected)
                print(f"lost tabs: {dict(reasons)}", file=sys.stderr)
        for step in steps:
            step.rss_zero_mb, step.idle_zero_ms_per_s = rss_zero, idle_zero
    finally:
        for tab in tabs:
            await tab.close()
        server.stop()
    return steps


async def load(root: Path, *, workflows: int, tabs_count: int, rate: float, seconds: float) -> dict:
    """`tabs_count` tabs, `rate` changes a second for `seconds`: server CPU and latency p95.

    A tab may see a change in a later, coalesced render: what counts is the first frame that
    carries it.
    """
    tree = build_tree(root, workflows, seed=workflows)
    mutator = Mutator(tree.agents_dir)
    server = livewatch_server(tree.agents_dir, root, [])
    server.spawn()
    tabs: list[Tab] = []
    try:
        await wait_ready(server)
        wait_quiet(server, limit_s=15.0)
        tabs = await open_tabs(server.url, tabs_count)
        await asyncio.sleep(3.0)
        waiters: list[tuple[float, list[asyncio.Future[float]]]] = []
        rng = random.Random(7)
        cpu_before, tree_before = main_cpu_seconds(server), server.cpu_seconds()
        started = time.perf_counter()
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            tmp, target, number = mutator.prepare(rng.choice(tree.ids))
            futures = [tab.expect(f"#{number}") for tab in tabs if tab.connected]
            waiters.append((time.perf_counter(), futures))
            mutator.commit(tmp, target)
        wall = time.perf_counter() - started
        cpu_percent = 100 * (main_cpu_seconds(server) - cpu_before) / wall
        tree_percent = 100 * (server.cpu_seconds() - tree_before) / wall
        await asyncio.sleep(2.0)
        latencies = [f.result() - at for at, fs in waiters for f in fs if f.done()]
        expected = sum(len(fs) for _, fs in waiters)
        return {
            "workflows": workflows,
            "tabs": tabs_count,
            "changes_per_s": rate,
            "seconds": seconds,
            "server_cpu_percent": round(cpu_percent, 1),
            "server_tree_cpu_percent": round(tree_percent, 1),
            "delivered": f"{len(latencies)}/{expected}",
            "latency_p50_ms": round(percentile([x * 1000 for x in latencies], 50), 1),
            "latency_p95_ms": round(percentile([x * 1000 for x in latencies], 95), 1),
        }
    finally:
        for tab in tabs:
            await tab.close()
        server.stop()


def summary(steps: list[Step]) -> dict[str, Any]:
    """Per tree size: the slope of CPU per change over tabs, idle CPU and RSS per tab."""
    out: dict[str, Any] = {}
    for workflows in sorted({s.workflows for s in steps}):
        mine = [s for s in steps if s.workflows == workflows]
        first, last = mine[0], mine[-1]
        span = max(1, last.tabs - first.tabs)
        slope = (last.change_cpu_ms - first.change_cpu_ms) / span
        idle = (last.idle_ms_per_s - last.idle_zero_ms_per_s) / last.tabs
        out[str(workflows)] = {
            "cpu_ms_per_tab_per_change": round(slope, 3),
            "vs_today": round(slope / TODAY_MS_PER_TAB, 3),
            "idle_ms_per_s_per_tab": round(idle, 3),
            "idle_vs_today": round(idle / TODAY_IDLE_MS_PER_TAB, 3),
            "rss_mb_per_tab": round((last.rss_mb - last.rss_zero_mb) / last.tabs, 3),
            "bytes_on_page_vs_today": round(last.bytes_on_page / TODAY_BYTES["on_page"], 3),
            "bytes_off_page_vs_today": round(last.bytes_off_page / TODAY_BYTES["off_page"], 3),
        }
    return out


def markdown(steps: list[Step]) -> str:
    lines = [
        "| workflows | tabs | CPU/change | today | idle CPU | RSS | latency p50 / p95 "
        "| bytes/tab on page | off page |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        r = s.row()
        today = TODAY.get(s.tabs)
        lines.append(
            f"| {s.workflows:,} | {s.tabs} | {r['cpu_per_change_ms']} ms "
            f"| {f'{today[0]} ms' if today and s.workflows == 2000 else '-'} "
            f"| {r['idle_cpu_ms_per_s']} ms/s | {r['rss_mb']} MB "
            f"| {r['latency_p50_ms']} / {r['latency_p95_ms']} ms "
            f"| {r['bytes_per_tab_on_page']} B | {r['bytes_per_tab_off_page']} B |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 workflows, 1 and 3 tabs")
    parser.add_argument("--workflows", type=int, nargs="*", default=[2000, 10000])
    parser.add_argument("--tabs", type=int, nargs="*", default=[1, 10, 50, 100])
    parser.add_argument("--changes", type=int, default=10, help="changes per step")
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--chromium", type=int, default=10, help="real tabs (0: none)")
    parser.add_argument("--load", action="store_true", help="also the 60 s load at 20/s")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    if args.quick:
        args.workflows, args.tabs, args.changes, args.idle_s = [200], [1, 3], 3, 1.0
        args.chromium = 0
    result: dict[str, Any] = {"steps": [], "summary": {}}
    shm = Path("/dev/shm")  # this VM's ext4 creates files slowly; reads are cached either way
    with tempfile.TemporaryDirectory(prefix="lw-tabs-", dir=shm if shm.is_dir() else None) as tmp:
        steps: list[Step] = []
        for workflows in args.workflows:
            root = Path(tmp) / f"w{workflows}"
            root.mkdir()
            steps += asyncio.run(
                scenario(
                    workflows,
                    args.tabs,
                    root,
                    changes_per_step=args.changes,
                    idle_s=args.idle_s,
                    chromium=args.chromium if workflows == args.workflows[0] else 0,
                    result=result,
                )
            )
        result["steps"] = [s.row() for s in steps]
        result["summary"] = summary(steps)
        print(markdown(steps))
        print(json.dumps(result["summary"], indent=2))
        if args.load:
            root = Path(tmp) / "load"
            root.mkdir()
            result["load"] = asyncio.run(
                load(root, workflows=10_000, tabs_count=100, rate=20.0, seconds=60.0)
            )
            print(json.dumps(result["load"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
