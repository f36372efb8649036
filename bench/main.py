"""The benchmark's command line and its order of work (see `bench/run.py`)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

from bench import report
from bench.baseline_server import get_workflows_data
from bench.data import GITHUB_REPO, Mutator, build_tree
from bench.load import Background
from bench.metrics import Bench, Plan, run_async
from bench.metrics.fanout import fanout
from bench.metrics.idle import idle_cpu
from bench.metrics.startup import cold_start
from bench.metrics.ws import change_bytes, latency
from bench.report import BUSY_PCT
from bench.servers import (
    BASELINE_INTERVAL_S,
    ServerProcess,
    baseline_server,
    livewatch_server,
    wait_quiet,
)
from bench.stats import summary_ms

QUICK = Plan(
    workflows=1_000,
    clients=100,
    idle_clients=100,
    latency_samples=60,
    seed_latency_samples=10,
    baseline_latency_samples=5,
    byte_changes=2,
    idle_window_s=5.0,
    baseline_idle_window_s=5.0,
    fanout_repeats=3,
    baseline_fanout_repeats=2,
    dom_samples=6,
)

T = TypeVar("T")
_started = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _started:6.1f}s] {text}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument("--workflows", type=int, help="workflows in the tree (10000; quick 1000)")
    parser.add_argument("--clients", type=int, help="fan-out clients (1000; quick 100)")
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the data and the picks")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where to build the tree (default: /dev/shm when it exists, else the temp dir)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the tree and the server logs")
    parser.add_argument(
        "--only",
        choices=("livewatch", "baseline"),
        help="measure one server (the other's column stays empty)",
    )
    parser.add_argument("--skip-dom", action="store_true", help="skip metric 6 (Chromium)")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="first wait up to S seconds for other processes to leave the CPUs alone",
    )
    parser.add_argument(
        "--livewatch-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra flag for `livewatch serve` (repeat; e.g. --livewatch-arg=--reconcile-s=60)",
    )
    return parser.parse_args(argv)


def wait_idle(limit_s: float, *, window_s: float = 5.0) -> None:
    """Wait (up to `limit_s`) for a window in which other processes stay under BUSY_PCT."""
    deadline = time.monotonic() + limit_s
    while True:
        monitor = Background().start()
        time.sleep(window_s)
        others = monitor.stop()["others_pct"]
        if others <= BUSY_PCT:
            return
        if time.monotonic() > deadline:
            say(f"the machine is still busy (others: {others:.0f} % of a core); measuring anyway")
            return
        say(f"waiting for a quiet machine (others: {others:.0f} % of a core)")


def make_plan(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else Plan()
    if args.workflows:
        plan = replace(plan, workflows=args.workflows)
    if args.clients:
        plan = replace(plan, clients=args.clients)
    return plan


def raise_file_limit(clients: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = clients * 2 + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard < 0 else min(want, hard), hard))


def data_root(given: Path | None) -> Path:
    # This VM's ext4 creates a file in ~0.25 ms, tmpfs in ~0.02 ms; reads come from the page
    # cache either way, so the servers see the same thing.
    base = given or (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    return Path(tempfile.mkdtemp(prefix="livewatch-bench-", dir=base))


class Phases:
    """Runs one server's measurements in turn, each watched for load from other processes."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.out: dict[str, Any] = {"background": {}}

    def run(self, key: str, label: str, measure: Callable[[], T]) -> T:
        say(f"{self.server.name}: {label}")
        monitor = Background().start()
        value = measure()
        load = monitor.stop()
        self.out["background"][key] = load
        if load["others_pct"] > BUSY_PCT or load["steal_pct"] > BUSY_PCT:
            say(
                f"  warning: other processes used {load['others_pct']:.0f} % of a core "
                f"(steal {load['steal_pct']:.0f} %) meanwhile; this figure is disturbed"
            )
        return value


def measure_livewatch(bench: Bench, server: ServerProcess, skip_dom: bool) -> dict[str, Any]:
    plan = bench.plan
    delta = server.ws_delta or server.ws_seed
    phases = Phases(server)
    out = phases.out
    out["cold"] = phases.run(
        "cold", "cold start", lambda: run_async(cold_start(server, delta, plan.workflows))
    )
    say(f"  {out['cold']['seconds']:.2f} s, {out['cold']['rss_mb']:.0f} MB; settling")
    out["settle_s"] = wait_quiet(server)
    result = phases.run(
        "latency_p2",
        f"latency, protocol 2 ({plan.latency_samples} samples)",
        lambda: run_async(latency(bench, server, delta, plan.latency_samples)),
    )
    out["latency_p2"] = {**summary_ms(result.seconds), "missed": result.missed}
    say(f"  {_brief(out['latency_p2'])}")
    result = phases.run(
        "latency_seed",
        f"latency, seed format ({plan.seed_latency_samples} samples)",
        lambda: run_async(latency(bench, server, server.ws_seed, plan.seed_latency_samples)),
    )
    out["latency_seed"] = {**summary_ms(result.seconds), "missed": result.missed}
    say(f"  {_brief(out['latency_seed'])}")
    out["bytes_p2_all"] = phases.run(
        "bytes_p2",
        "bytes per change, protocol 2",
        lambda: run_async(change_bytes(bench, server, delta, plan.byte_changes)),
    )
    out["bytes_seed_all"] = phases.run(
        "bytes_seed",
        "bytes per change, seed format",
        lambda: run_async(change_bytes(bench, server, server.ws_seed, 2)),
    )
    out["bytes_p2"] = _median(out["bytes_p2_all"])
    out["bytes_seed"] = _median(out["bytes_seed_all"])
    _idle_and_fanout(bench, phases, delta, timeout=30.0)
    if not skip_dom:
        from bench.metrics.dom import dom_latency

        wait_quiet(server)
        dom = phases.run(
            "dom",
            f"write→DOM in Chromium ({plan.dom_samples} samples)",
            lambda: dom_latency(bench, server, plan.dom_samples),
        )
        out["dom"] = {**summary_ms(dom["dom"]), "missed": dom["missed"]}
        out["paint"] = summary_ms(dom["paint"])
        out["page_load_s"] = dom["page_load_s"]
        say(f"  {_brief(out['dom'])}")
    out["peak_rss_mb"] = server.rss_mb("VmHWM")
    return out


def poll_period(bench: Bench) -> float:
    """The baseline's real period: its sleep plus one scan of this tree (timed here)."""
    started = time.perf_counter()
    get_workflows_data(bench.tree.agents_dir, GITHUB_REPO)
    return BASELINE_INTERVAL_S + time.perf_counter() - started


def measure_baseline(bench: Bench, server: ServerProcess) -> dict[str, Any]:
    plan = bench.plan
    phases = Phases(server)
    out = phases.out
    out["poll_period_s"] = poll_period(bench)
    # Pauses that span one whole period put the writes at uniformly random points of it.
    period = (0.05, 0.05 + out["poll_period_s"])
    out["cold"] = phases.run(
        "cold",
        "cold start",
        lambda: run_async(cold_start(server, server.ws_seed, plan.workflows)),
    )
    say(f"  {out['cold']['seconds']:.2f} s, {out['cold']['rss_mb']:.0f} MB")
    samples = plan.baseline_latency_samples
    result = phases.run(
        "latency_seed",
        f"latency ({samples} samples)",
        lambda: run_async(
            latency(bench, server, server.ws_seed, samples, pause=period, timeout=15)
        ),
    )
    out["latency_seed"] = {**summary_ms(result.seconds), "missed": result.missed}
    say(f"  {_brief(out['latency_seed'])}")
    out["bytes_seed_all"] = phases.run(
        "bytes_seed",
        "bytes per change",
        lambda: run_async(change_bytes(bench, server, server.ws_seed, 2, settle=0.1)),
    )
    out["bytes_seed"] = _median(out["bytes_seed_all"])
    _idle_and_fanout(bench, phases, server.ws_seed, timeout=300.0, pause=period)
    out["peak_rss_mb"] = server.rss_mb("VmHWM")
    return out


def _idle_and_fanout(
    bench: Bench,
    phases: Phases,
    path: str,
    *,
    timeout: float,
    pause: tuple[float, float] | None = None,
) -> None:
    plan, server, out = bench.plan, phases.server, phases.out
    window = plan.idle_window_s if pause is None else plan.baseline_idle_window_s
    out["idle"] = phases.run(
        "idle",
        f"idle CPU, {plan.idle_clients} clients, {window:.0f} s",
        lambda: run_async(idle_cpu(server, path, plan.idle_clients, window)),
    )
    idle = out["idle"]
    bursts = (
        f"; bursts of {idle['burst_cpu_s']:.2f} CPU-s every {idle['period_s']:.1f} s"
        if "period_s" in idle
        else ""
    )
    say(f"  {idle['percent']:.2f} % of a core (window mean {idle['window_percent']:.2f} %{bursts})")
    repeats = plan.fanout_repeats if pause is None else plan.baseline_fanout_repeats
    spread = pause or (0.3, 0.6)
    out["fanout"] = phases.run(
        "fanout",
        f"fan-out to {plan.clients} clients, {repeats} changes",
        lambda: run_async(
            fanout(bench, server, path, plan.clients, repeats, timeout=timeout, pause=spread)
        ),
    )
    say(
        f"  connect {out['fanout']['connect_s']:.1f} s; "
        f"p99 per change {[round(r.get('p99', 0)) for r in out['fanout']['per_repeat']]} ms; "
        f"missing {out['fanout']['missing']}"
    )


def _median(values: list[int]) -> int:
    return sorted(values)[len(values) // 2]


def _brief(s: dict[str, Any]) -> str:
    if not s.get("n"):
        return "no samples"
    return f"n={s['n']} p50={s['p50']:.1f} ms p95={s['p95']:.1f} ms p99={s['p99']:.1f} ms"


def _run_server(
    make: Callable[[], ServerProcess], measure: Callable[[ServerProcess], dict[str, Any]]
) -> dict[str, Any]:
    server = make()
    try:
        return measure(server)
    except Exception as error:
        say(f"{server.name} failed: {error!r}\n{server.log_tail()}")
        raise
    finally:
        server.stop()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    raise_file_limit(plan.clients)
    root = data_root(args.data_dir)
    say(f"building {plan.workflows} workflows in {root}")
    tree = build_tree(root, plan.workflows, seed=args.seed)
    say(f"  {tree.files} files and folders in {tree.seconds:.1f} s")
    bench = Bench(tree, Mutator(tree.agents_dir), plan, random.Random(args.seed), root)
    results: dict[str, dict[str, Any]] = {"livewatch": {}, "baseline": {}}
    if args.wait_idle > 0:
        wait_idle(args.wait_idle)
    whole = Background().start()
    try:
        if args.only in (None, "livewatch"):
            results["livewatch"] = _run_server(
                lambda: livewatch_server(tree.agents_dir, root, args.livewatch_arg),
                lambda s: measure_livewatch(bench, s, args.skip_dom),
            )
        if args.only in (None, "baseline"):
            results["baseline"] = _run_server(
                lambda: baseline_server(tree.agents_dir, root),
                lambda s: measure_baseline(bench, s),
            )
    finally:
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    load = whole.stop()
    rows = report.build_rows(
        results["livewatch"], results["baseline"], plan.clients, plan.idle_clients
    )
    title = f"{plan.workflows:,} workflows, {plan.clients:,} fan-out clients"
    print(f"\n{title}; ratio = livewatch ÷ baseline (lower is better)\n")
    print(report.text_table(rows))
    print(f"\nmachine: {machine()}")
    print(report.load_note(load, results))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "plan": asdict(plan),
                    "machine": machine(),
                    "rows": [r.as_dict() for r in rows],
                    "markdown": report.markdown(rows),
                    "results": results,
                    "background_load": load,
                    "elapsed_s": time.monotonic() - _started,
                },
                indent=2,
            )
        )
        say(f"wrote {args.json}")
    say("done")
    return 0
