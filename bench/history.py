"""Benchmark the run history on real servers.

    python bench/history.py [--workflows 10000] [--runs 100000] [--quick] [--json out.json]
                            [--no-browser]

1. Backfill: a fresh server on the generated tree of `--workflows` workflows (bench/data.py)
   and an empty database. From the port opening until the backfill child reports, one
   workflow's state is replaced every 0.25 s: write → its `/ws/workflows` protocol-2 delta.
   Reports the backfill's own seconds, the wall time from spawn to done, and that latency.
2. Summary: `--runs` generated runs over 90 days (six phases, two agents each) written into a
   database with the history's own writes; a server on it answers
   `GET /api/history/summary?days=90` (and the slowest runs page) 30 times: p50 and p95.
3. Browser (unless --no-browser): Chromium loads `/history` on that server: navigation start
   to the first table row and the four charts drawn, warm, median of 3.

Prints one table (metric, value, target, pass/fail); --json writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx

from bench.clients import Pool, marker
from bench.data import Mutator, build_tree
from bench.main import data_root, machine
from bench.servers import ServerProcess, livewatch_server
from bench.stats import summary_ms
from livewatch.hub.records import PHASES
from livewatch.store.database import database_url, migrate, open_engine
from livewatch.store.history import HistoryStore
from livewatch.store.history_sql import DAY_MS

TARGETS = {"backfill_s": 15.0, "latency_p50_ms": 30.0, "summary_p50_ms": 100.0, "page_s": 1.5}
OUTCOMES = (("completed", 0.7), ("failed", 0.15), ("stalled", 0.05), ("running", 0.1))
CLASSES = ("/feature", "/bug", "/chore")
MODEL_SETS = ("base", "heavy")
CHUNK = 5000


def say(text: str) -> None:
    print(f"[history bench] {text}", file=sys.stderr, flush=True)


def generate_runs(db: Path, count: int, *, days: int = 90, seed: int = 1) -> float:
    """Write `count` runs (with phases and agents) spread over the last `days`; seconds."""
    started = time.perf_counter()
    rng = random.Random(seed)
    now = time.time_ns() // 1_000_000
    engine = open_engine(database_url(db))
    migrate(engine)
    history = HistoryStore(engine)
    outcomes, weights = zip(*OUTCOMES, strict=True)
    for first in range(0, count, CHUNK):
        runs, phases, agents = [], [], []
        for index in range(first, min(count, first + CHUNK)):
            adw_id = f"g{index:07d}"
            start = now - rng.randrange(days * DAY_MS)
            outcome = rng.choices(outcomes, weights)[0]
            at = start
            for phase in PHASES[: rng.randint(2, 6)]:
                length = int(rng.lognormvariate(12, 0.6))  # ~3 min, long tail
                phases.append(
                    {"adw_id": adw_id, "phase": phase, "started_ms": at, "ended_ms": at + length}
                )
                at += length
            cost = round(rng.uniform(0.2, 6.0), 4)
            runs.append(
                {
                    "adw_id": adw_id, "first_seen_ms": start, "last_seen_ms": at,
                    "ended_ms": None if outcome == "running" else at,
                    "duration_ms": at - start, "host": None, "issue_number": index,
                    "issue_class": rng.choice(CLASSES), "model_set": rng.choice(MODEL_SETS),
                    "status": outcome, "outcome": outcome, "cost_usd": cost,
                    "tokens_in": rng.randrange(10**6), "tokens_out": rng.randrange(10**4),
                }
            )  # fmt: skip
            for agent in ("sdlc_planner", "sdlc_implementor"):
                agents.append(
                    {
                        "adw_id": adw_id, "agent": agent, "ended_ms": at,
                        "num_turns": rng.randint(3, 40), "duration_ms": 60_000.0,
                        "cost_usd": cost / 2, "tokens_in": 1000, "tokens_out": 100,
                        "is_error": outcome == "failed",
                    }
                )  # fmt: skip
        history.write("runs", runs, "fill")
        history.write("run_phases", phases, "fill")
        history.write("run_agents", agents, "fill")
    history.rollup()
    engine.dispose()
    return time.perf_counter() - started


def start(server: ServerProcess, timeout: float = 600.0) -> None:
    server.spawn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"the server died:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no answer in {timeout}s:\n{server.log_tail()}")


def backfill_state(server: ServerProcess) -> dict[str, Any]:
    return httpx.get(f"{server.url}/healthz", timeout=5).json()["history"]["backfill"]


async def measure_backfill(
    server: ServerProcess, agents_dir: Path, ids: list[str]
) -> dict[str, Any]:
    """Write → protocol-2 delta every 0.25 s until the backfill is done."""
    assert server.ws_delta is not None
    pool = Pool(server.ws_url(server.ws_delta))
    await pool.open_one()
    await pool.clients[0].ready.wait()
    mutator, rng = Mutator(agents_dir), random.Random(3)
    seconds: list[float] = []
    missed = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        while True:
            state = (await http.get("/healthz")).json()["history"]["backfill"]
            if state["state"] in ("done", "failed"):
                break
            adw_id = rng.choice(ids)
            tmp, target, number = mutator.prepare(adw_id)
            expectation = pool.expect(marker(adw_id, number), want=1)
            began = time.perf_counter()
            mutator.commit(tmp, target)
            try:
                await asyncio.wait_for(expectation.done.wait(), 10)
                seconds.append(expectation.times[0] - began)
            except TimeoutError:
                missed += 1
            await asyncio.sleep(0.25)
    done_at = time.perf_counter()
    for client in pool.clients:
        await client.close()
    return {
        **state,
        "wall_s": done_at - server.spawned_at,
        "latency": {**summary_ms(seconds), "missed": missed},
    }


def measure_get(server: ServerProcess, path: str, samples: int = 30) -> dict[str, float]:
    """Wall time per request, and the server's CPU time per request (steadier on a busy box)."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.get(path).raise_for_status()  # warm: the first connection and query plan
        times = []
        cpu = server.cpu_seconds()
        for _ in range(samples):
            began = time.perf_counter()
            http.get(path).raise_for_status()
            times.append(time.perf_counter() - began)
        cpu_ms = (server.cpu_seconds() - cpu) / samples * 1000
    return {**summary_ms(times), "server_cpu_ms": cpu_ms}


def measure_page(server: ServerProcess, loads: int = 3) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from livewatch.testing import chromium_launch_args

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_args())  # type: ignore[arg-type]
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        url = server.url
        page.goto(f"{url}/history")  # warm: NiceGUI's and ECharts' assets in the cache
        cpu = server.cpu_seconds()
        for _ in range(loads):
            began = time.perf_counter()
            page.goto(f"{url}/history")
            page.get_by_test_id("history-row").first.wait_for()
            for chart in ("runs", "cost", "phase", "class"):
                page.get_by_test_id(f"history-{chart}-chart").locator("canvas").first.wait_for()
            times.append(time.perf_counter() - began)
        cpu_ms = (server.cpu_seconds() - cpu) / loads * 1000
        browser.close()
    return {"median_s": statistics.median(times), "loads_s": times, "server_cpu_ms": cpu_ms}


def table(results: dict[str, Any]) -> str:
    fill, summary = results["backfill"], results["summary"]
    rows = [
        ("backfill (child's own time)", fill.get("seconds"), "s", TARGETS["backfill_s"]),
        ("backfill, spawn to done", fill["wall_s"], "s", None),
        ("write→WS p50 during backfill (p2)", fill["latency"].get("p50"), "ms",
         TARGETS["latency_p50_ms"]),
        ("  samples / missed", fill["latency"].get("n"), "", None),
        ("summary?days=90 p50", summary["p50"], "ms", TARGETS["summary_p50_ms"]),
        ("summary?days=90 p95", summary["p95"], "ms", None),
        ("  server CPU per summary", summary["server_cpu_ms"], "ms", None),
        ("runs?sort=slowest p50", results["runs_page"]["p50"], "ms", None),
        ("  server CPU per runs page", results["runs_page"]["server_cpu_ms"], "ms", None),
    ]  # fmt: skip
    if "page" in results:
        page = results["page"]
        rows.append(("/history load (Chromium)", page["median_s"], "s", TARGETS["page_s"]))
        rows.append(("  server CPU per load", page["server_cpu_ms"], "ms", None))
    lines = [f"| {'metric':38} | {'value':>10} | {'target':>8} | verdict |", "|" + "-" * 70 + "|"]
    for name, value, unit, target in rows:
        shown = "-" if value is None else f"{value:,.1f} {unit}".strip()
        verdict = "" if target is None or value is None else ("pass" if value <= target else "FAIL")
        lines.append(f"| {name:38} | {shown:>10} | {target or '':>8} | {verdict:7} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="500 workflows, 5,000 runs")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.workflows, args.runs = 500, 5000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = data_root(None)
    results: dict[str, Any] = {"workflows": args.workflows, "runs": args.runs}
    servers: list[ServerProcess] = []
    try:
        say(f"building {args.workflows} workflows")
        tree = build_tree(root / "tree", args.workflows)
        server = livewatch_server(tree.agents_dir, root, ["--db", str(root / "backfill.db")])
        servers.append(server)
        say("1: a fresh server backfills the tree; writes meanwhile")
        start(server)
        results["backfill"] = asyncio.run(measure_backfill(server, tree.agents_dir, tree.ids))
        server.stop()
        say(f"2: {args.runs:,} runs into a database")
        db = root / "runs.db"
        results["generate_s"] = generate_runs(db, args.runs)
        (root / "empty").mkdir()
        (root / "logs").mkdir()
        server = livewatch_server(root / "empty", root / "logs", ["--db", str(db)])
        servers.append(server)
        start(server)
        results["summary"] = measure_get(server, "/api/history/summary?days=90")
        results["runs_page"] = measure_get(server, "/api/history/runs?sort=slowest&limit=100")
        if not args.no_browser:
            say("3: /history in Chromium")
            results["page"] = measure_page(server)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(table(results))
    print(f"\nmachine: {machine()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
