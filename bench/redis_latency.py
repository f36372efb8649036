"""Change-to-client latency through Redis (1 agent, 2 replicas) beside one process alone.

    python bench/redis_latency.py [--workflows 1000] [--clients 1000] [--changes 30]

Builds an agents tree, then measures two set-ups in turn, on the same tree and machine:

- broker: redis-server, one `livewatch agent` on the tree, two `livewatch serve --broker`
  replicas with half the clients each;
- single: one `livewatch serve` on the tree with all the clients.

Every client speaks protocol 2. Each change is one `os.replace` of a state file; a client's
latency is the time from just before the rename to its receipt of the delta. For the broker
set-up a Redis reader also stamps the stream entry, which splits the path in two: file ->
Redis (the agent's watcher and publish) and Redis -> client (a replica's read and fan-out).
Takes about a minute; needs redis-server on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import redis
import redis.asyncio as aioredis

from bench.clients import Pool, marker
from bench.data import Mutator, build_tree
from bench.metrics import run_async
from bench.stats import summary_ms
from livewatch.broker.bus import Keys
from livewatch.testing import LiveServer, free_port

QUIET = ["--heartbeat-s", "3600", "--log-level", "warning"]


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    with (workdir / "redis.log").open("ab") as log:
        process = subprocess.Popen(
            [*command, "--appendonly", "no", "--dir", str(workdir)], stdout=log, stderr=log
        )
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def agent(agents_dir: Path, url: str, workdir: Path) -> Iterator[None]:
    """`livewatch agent` on the tree; ready once its heartbeat key is in Redis."""
    command = [
        sys.executable, "-m", "livewatch", "agent", "--agents-dir", str(agents_dir),
        "--broker", url, "--host-label", "bench-host", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (workdir / "agent.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 60
        while not client.exists(Keys().heartbeat("bench-host")):
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the agent did not start:\n{(workdir / 'agent.log').read_text()}")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(10)


class StreamStamps:
    """Stamps each stream entry as it arrives at a Redis reader like the replicas'."""

    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.arrivals: list[tuple[float, bytes]] = []
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StreamStamps:
        last = (await self.client.get(Keys().seq) or b"0").decode()
        self.task = asyncio.create_task(self._read(f"{last}-0"))
        return self

    async def _read(self, after: str) -> None:
        while True:
            reply = await self.client.xread({Keys().changes: after}, block=1000)
            at = time.perf_counter()
            for _, entries in reply or ():
                for entry_id, fields in entries:
                    self.arrivals.append((at, fields[b"upsert"]))
                    after = entry_id.decode()

    def first(self, mark: bytes, since: float) -> float | None:
        return next(
            (at - since for at, body in self.arrivals if at >= since and mark in body), None
        )

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.client.aclose()


@dataclass
class Result:
    clients: dict[str, float]  # change -> each client, ms
    converged: dict[str, float]  # change -> the first client of the slowest server, ms
    to_redis: dict[str, float]  # change -> its stream entry, ms (broker only)
    missing: int  # receipts that never came
    connect_s: float


async def measure(
    urls: list[str],
    clients: int,
    changes: int,
    mutator: Mutator,
    ids: list[str],
    stamps: StreamStamps | None = None,
) -> Result:
    """Spread `clients` over the servers, make `changes` changes, collect every receipt."""
    pools = [Pool(f"{url}/ws/workflows?protocol=2") for url in urls]
    rng = random.Random(7)
    latencies: list[float] = []
    converged: list[float] = []
    to_redis: list[float] = []
    missing = 0
    try:
        started = time.perf_counter()
        await asyncio.gather(*(pool.open(clients // len(pools)) for pool in pools))
        connect_s = time.perf_counter() - started
        await asyncio.sleep(1.0)
        for _ in range(changes):
            adw_id = rng.choice(ids)
            tmp, target, number = mutator.prepare(adw_id)
            await asyncio.sleep(rng.uniform(0.2, 0.4))
            mark = marker(adw_id, number)
            expectations = [pool.expect(mark) for pool in pools]
            written = time.perf_counter()
            mutator.commit(tmp, target)
            done = asyncio.gather(*(e.done.wait() for e in expectations))
            with suppress(TimeoutError):  # counted as missing below
                await asyncio.wait_for(done, 10)
            for expectation in expectations:
                latencies += [at - written for at in expectation.times.values()]
                missing += expectation.want - len(expectation.times)
            # A server's first receipt is when it has the change: all have it at the latest one.
            if all(e.times for e in expectations):
                converged.append(max(min(e.times.values()) for e in expectations) - written)
            if stamps is not None and (hop := stamps.first(mark, written)) is not None:
                to_redis.append(hop)
    finally:
        await asyncio.gather(*(pool.close() for pool in pools))
    return Result(
        summary_ms(latencies), summary_ms(converged), summary_ms(to_redis), missing, connect_s
    )


def broker_run(workdir: Path, agents_dir: Path, args: argparse.Namespace) -> Result:
    ids = sorted(p.name for p in agents_dir.iterdir())
    with redis_server(workdir) as url, agent(agents_dir, url, workdir):
        replicas = []
        for name in ("replica-a", "replica-b"):
            (workdir / name).mkdir(exist_ok=True)
            replicas.append(LiveServer(workdir / name, args=["--broker", url, *QUIET]))
        try:
            for replica in replicas:
                replica.start(timeout=60)

            async def run() -> Result:
                async with StreamStamps(url) as stamps:
                    urls = [r.url.replace("http", "ws") for r in replicas]
                    return await measure(
                        urls, args.clients, args.changes, Mutator(agents_dir), ids, stamps
                    )

            return run_async(run())
        finally:
            for replica in replicas:
                replica.stop()


def single_run(agents_dir: Path, args: argparse.Namespace) -> Result:
    ids = sorted(p.name for p in agents_dir.iterdir())
    server = LiveServer(agents_dir, args=QUIET).start(timeout=60)
    try:
        url = server.url.replace("http", "ws")
        return run_async(measure([url], args.clients, args.changes, Mutator(agents_dir), ids))
    finally:
        server.stop()


def row(name: str, summary: dict[str, float], missing: int | str = "") -> str:
    if not summary.get("n"):
        return f"{name:<32} {'-':>7} {'-':>7} {'-':>7} {'-':>7}"
    n, p50, p99, top = int(summary["n"]), summary["p50"], summary["p99"], summary["max"]
    return f"{name:<32} {n:>7} {p50:>7.1f} {p99:>7.1f} {top:>7.1f} {missing!s:>7}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="livewatch-redis-bench-"))
    try:
        tree = build_tree(workdir, args.workflows)
        print(f"{args.workflows} workflows, {args.clients} clients, {args.changes} changes each")
        broker = broker_run(workdir, tree.agents_dir, args)
        single = single_run(tree.agents_dir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'change -> client, ms':<32} {'n':>7} {'p50':>7} {'p99':>7} {'max':>7} {'missing':>7}")
    print(row("single process: every client", single.clients, single.missing))
    print(row("  its first client", single.converged))
    print(row("broker: every client", broker.clients, broker.missing))
    print(row("  both replicas' first clients", broker.converged))
    print(row("  the Redis stream entry", broker.to_redis))
    print(
        f"connecting {args.clients} clients took {single.connect_s:.1f}s (single), "
        f"{broker.connect_s:.1f}s (broker)"
    )


if __name__ == "__main__":
    main()
