"""Benchmark livewatch's start-up: writes made from the moment the port opens, and cold starts.

    python bench/startup.py [--workflows 10000] [--starts 2] [--write-s 5] [--quick]
                            [--json out.json] [--data-dir DIR] [--keep]

Builds a tree of workflows on a real disk (`/var/tmp` unless `--data-dir`; tmpfs would keep
every file in memory), then starts `python -m livewatch serve` on it again and again, in four
ways, `--starts` times each:

- first start: no event database yet, so no last known list: the port opens after the scan;
- restart: the database holds the last known list, served at once and verified behind it;
- cold first start / cold restart: the same with the tree's file pages (and the database's)
  evicted first (`posix_fadvise(DONTNEED)` on every file). Directory entries stay cached:
  dropping those takes `drop_caches`, which hits the whole machine;
- reboot restart, only when named in `--scenarios` (root): a restart after
  `echo 3 > /proc/sys/vm/drop_caches`, every cache on the machine dropped, as after a reboot.

A restart scenario run without a first start before it gets an unmeasured start first, to
store the list it restarts from.

Each start: a protocol-2 client connects the moment the port opens (spawn → its full list is
"cold start"); from then on one workflow's state file is replaced every 100 ms for
`--write-s` seconds, and each write is timed to the message that carries it (write→client).
Then `/healthz` is polled until it no longer says `"verifying"`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidMessage

from bench.clients import marker
from bench.data import Mutator, build_tree
from bench.main import machine
from bench.servers import ServerProcess, livewatch_server
from bench.stats import percentile

WRITE_EVERY_S = 0.1
LATE_S = 10.0  # a write not shown this long after the last one is counted as missed
SCENARIOS = ("first start", "restart", "cold first start", "cold restart")
# Only when asked for (root only; it drops every process's caches on the machine): a restart
# after a reboot, with the folders' entries out of the kernel's cache too.
REBOOT = "reboot restart"
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
TARGET_P99_MS = 200.0
TARGET_COLD_S = 2.0


@dataclass
class Start:
    """What one start gave: seconds from spawn, and each write's latency."""

    port_open_s: float = 0.0
    full_list_s: float = 0.0
    cpu_to_list_s: float = 0.0  # the server tree's CPU time by then (steadier than wall time)
    slowest_health_s: float = 0.0  # the longest /healthz took while verifying: a stalled loop
    verified_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    missed: int = 0


def evict(paths: list[Path]) -> int:
    """Drop these files' pages from the page cache; returns how many files were evicted."""
    os.sync()  # only clean pages can be dropped
    evicted = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            evicted += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return evicted


def drop_caches() -> None:
    """Drop the page cache, directory entries and inodes, as a reboot leaves them."""
    os.sync()
    DROP_CACHES.write_text("3\n")


def tree_files(agents_dir: Path) -> list[Path]:
    return [Path(root) / name for root, _, names in os.walk(agents_dir) for name in names]


async def connect_when_open(server: ServerProcess, timeout: float = 120.0) -> ClientConnection:
    deadline = time.perf_counter() + timeout
    while True:
        if not server.alive():
            raise RuntimeError(f"livewatch exited during start:\n{server.log_tail()}")
        if time.perf_counter() > deadline:
            raise TimeoutError("the port did not open")
        try:
            return await connect(
                server.ws_url("/ws/workflows?protocol=2"),
                max_size=None,
                compression=None,
                ping_interval=None,
                open_timeout=timeout,
                max_queue=None,
            )
        except (OSError, InvalidHandshake, InvalidMessage):
            await asyncio.sleep(0.005)


async def one_start(
    server: ServerProcess, mutator: Mutator, ids: list[str], rng: random.Random, write_s: float
) -> Start:
    """Spawn, write every 100 ms from the moment the port opens, time each write's arrival."""
    result = Start()
    pending: dict[bytes, float] = {}  # marker → when its write was committed
    server.spawn()
    ws = await connect_when_open(server)
    opened = time.perf_counter()
    result.port_open_s = opened - server.spawned_at

    async def write() -> None:
        for n in range(int(write_s / WRITE_EVERY_S)):
            await asyncio.sleep(max(0.0, opened + n * WRITE_EVERY_S - time.perf_counter()))
            adw_id = rng.choice(ids)
            tmp, target, number = mutator.prepare(adw_id)
            pending[marker(adw_id, number)] = time.perf_counter()
            mutator.commit(tmp, target)

    writer = asyncio.create_task(write())
    try:
        last_write = opened + write_s
        while not writer.done() or (pending and time.perf_counter() < last_write + LATE_S):
            try:
                data = await asyncio.wait_for(ws.recv(decode=False), 0.5)
            except TimeoutError:
                continue
            at = time.perf_counter()
            if not result.full_list_s and _is_full_list(data, len(ids)):
                result.full_list_s = at - server.spawned_at
                result.cpu_to_list_s = server.cpu_seconds()
            for mark in [m for m in pending if m in data]:
                result.latencies_ms.append((at - pending.pop(mark)) * 1000)
        await writer
        result.missed = len(pending)
    finally:
        await ws.close()
    result.verified_s, result.slowest_health_s = await wait_verified(server)
    return result


def started_once(
    server: ServerProcess,
    pythonpath: str | None,
    mutator: Mutator,
    ids: list[str],
    rng: random.Random,
    write_s: float,
) -> Start:
    """`one_start` of `server` with this PYTHONPATH; the server is stopped after it."""
    try:
        with python_path(pythonpath):
            return asyncio.run(one_start(server, mutator, ids, rng, write_s))
    finally:
        server.stop()


def _is_full_list(data: bytes, count: int) -> bool:
    return data.startswith(b'{"type":"snapshot"') and len(json.loads(data)["data"]) >= count


async def wait_verified(server: ServerProcess, timeout: float = 120.0) -> tuple[float, float]:
    """Seconds from spawn until /healthz no longer says "verifying", and the longest one
    /healthz took meanwhile."""
    slowest = 0.0
    async with httpx.AsyncClient(base_url=server.url, timeout=timeout) as client:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            asked = time.perf_counter()
            verifying = (await client.get("/healthz")).json().get("verifying")
            slowest = max(slowest, time.perf_counter() - asked)
            if not verifying:
                return time.perf_counter() - server.spawned_at, slowest
            await asyncio.sleep(0.05)
    return math.nan, slowest  # still verifying: reported, not fatal


def summarize(starts: list[Start]) -> dict[str, Any]:
    latencies = [v for s in starts for v in s.latencies_ms]
    return {
        "starts": [s.__dict__ for s in starts],
        "full_list_s": [round(s.full_list_s, 3) for s in starts],
        "port_open_s": [round(s.port_open_s, 3) for s in starts],
        "cpu_to_list_s": [round(s.cpu_to_list_s, 3) for s in starts],
        "verified_s": [round(s.verified_s, 3) for s in starts],
        "slowest_health_s": max(s.slowest_health_s for s in starts),
        "writes": len(latencies),
        "missed": sum(s.missed for s in starts),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
    }


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every scenario `--starts` times; with `--compare`, each start of this livewatch is
    followed by one of the other, so both see the same tree and the same load."""
    root = Path(tempfile.mkdtemp(prefix="livewatch-startup-", dir=args.data_dir))
    # `python -m livewatch` imports from its working dir first: a neutral one, so the server
    # is the installed livewatch (or the one on PYTHONPATH for --compare).
    os.chdir(root)
    variants = {"livewatch": None, **({"before": str(args.compare)} if args.compare else {})}
    results: dict[str, dict[str, Any]] = {variant: {} for variant in variants}
    try:
        say(f"building {args.workflows:,} workflows in {root} ({filesystem(root)})")
        tree = build_tree(root, args.workflows, seed=args.seed)
        files = tree_files(tree.agents_dir)
        say(f"  {len(files):,} files in {tree.seconds:.1f} s")
        mutator, rng = Mutator(tree.agents_dir), random.Random(args.seed)
        for scenario in args.scenarios:
            starts: dict[str, list[Start]] = {variant: [] for variant in variants}
            for _ in range(args.starts):
                for variant, pythonpath in variants.items():
                    db = root / f"{variant}.db"
                    if "first" in scenario:
                        for path in root.glob(f"{variant}.db*"):
                            path.unlink()
                    server = livewatch_server(tree.agents_dir, root, ["--db", str(db)])
                    if "first" not in scenario and not db.exists():
                        # A restart needs a list stored by a start before it: one unmeasured.
                        started_once(server, pythonpath, mutator, tree.ids, rng, 0.0)
                    if "cold" in scenario:
                        evict([*files, *root.glob(f"{variant}.db*")])
                    if scenario == REBOOT:
                        drop_caches()
                    start = started_once(server, pythonpath, mutator, tree.ids, rng, args.write_s)
                    starts[variant].append(start)
                    say(f"  {variant}, {scenario}: {brief(starts[variant][-1])}")
            for variant, done in starts.items():
                results[variant][scenario] = summarize(done)
    finally:
        os.chdir(args.data_dir)
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return results


def say(text: str) -> None:
    print(text, flush=True)


def brief(s: Start) -> str:
    return (
        f"port {s.port_open_s:.2f} s, full list {s.full_list_s:.2f} s "
        f"({s.cpu_to_list_s:.2f} CPU-s), verified {s.verified_s:.2f} s, "
        f"{len(s.latencies_ms)} writes p50 {percentile(s.latencies_ms, 50):.0f} ms "
        f"p99 {percentile(s.latencies_ms, 99):.0f} ms, missed {s.missed}, "
        f"slowest /healthz {s.slowest_health_s * 1000:.0f} ms"
    )


@contextlib.contextmanager
def python_path(path: str | None) -> Iterator[None]:
    """Spawn servers with this PYTHONPATH (None: as given)."""
    before = os.environ.get("PYTHONPATH")
    if path is not None:
        os.environ["PYTHONPATH"] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def filesystem(path: Path) -> str:
    """The type of the filesystem `path` lies on, from /proc/mounts (longest mount point)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, point, fstype, *_ = line.split()
            if str(path).startswith(point) and len(point) > len(best):
                best, kind = point, fstype
    except OSError:
        pass
    return kind


def table(results: dict[str, dict[str, Any]], workflows: int) -> str:
    rows = [
        "| server, scenario | cold start to full list (CPU-s) "
        "| write→client p50 / p99 (n, missed) | verified after | target |",
        "|---|---|---|---|---|",
    ]
    for variant, scenario, r in [(v, k, r) for v, rs in results.items() for k, r in rs.items()]:
        target = f"p99 ≤ {TARGET_P99_MS:.0f} ms, list ≤ {TARGET_COLD_S:.0f} s"
        ok = r["p99_ms"] <= TARGET_P99_MS and max(r["full_list_s"]) <= TARGET_COLD_S
        rows.append(
            f"| {variant}, {scenario} | {' / '.join(f'{v:.2f} s' for v in r['full_list_s'])} "
            f"({' / '.join(f'{v:.2f}' for v in r['cpu_to_list_s'])}) "
            f"| {r['p50_ms']:.0f} / {r['p99_ms']:.0f} ms ({r['writes']}, {r['missed']}) "
            f"| {' / '.join(f'{v:.1f} s' for v in r['verified_s'])} "
            f"| {target}: {'pass' if ok and not r['missed'] else 'FAIL'} |"
        )
    return f"{workflows:,} workflows\n" + "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/startup.py", description=__doc__.split("\n")[0])
    parser.add_argument("--workflows", type=int, help="workflows in the tree (10,000; quick 300)")
    parser.add_argument("--starts", type=int, help="starts per scenario (2; quick 1)")
    parser.add_argument("--write-s", type=float, help="seconds of writes per start (5; quick 2)")
    parser.add_argument("--quick", action="store_true", help="a small run, about a minute")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--data-dir", type=Path, default=Path("/var/tmp"), help="a real disk")
    parser.add_argument("--keep", action="store_true", help="keep the tree and the server log")
    parser.add_argument(
        "--compare", type=Path, help="also start the livewatch of this checkout, for before/after"
    )
    parser.add_argument(
        "--scenarios",
        type=lambda text: [name.strip() for name in text.split(",")],
        default=list(SCENARIOS),
        help=f"which to run, comma-separated (all: {', '.join(SCENARIOS)}; "
        f"also {REBOOT!r}, which needs root)",
    )
    args = parser.parse_args(argv)
    if unknown := set(args.scenarios) - {*SCENARIOS, REBOOT}:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if REBOOT in args.scenarios and not os.access(DROP_CACHES, os.W_OK):
        parser.error(f"{REBOOT!r} drops the kernel's caches: it needs root")
    defaults = (300, 1, 2.0) if args.quick else (10_000, 2, 5.0)
    for name, default in zip(("workflows", "starts", "write_s"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    print(table(results, args.workflows))
    print(machine())
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args), "results": results}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
