"""Metrics 1 and 2: write-to-message latency, and the bytes one change costs a client."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.clients import Pool, marker
from bench.metrics import Bench
from bench.servers import ServerProcess


@dataclass
class LatencyResult:
    seconds: list[float]
    missed: int


async def latency(
    bench: Bench,
    server: ServerProcess,
    path: str,
    samples: int,
    *,
    pause: tuple[float, float] = (0.03, 0.09),
    timeout: float = 10.0,
) -> LatencyResult:
    """Change one random workflow at a time; time from just before os.replace to receipt.

    Before each write, a random pause in `pause` (seconds): samples fall at random points
    of any periodic work. For a poller, the pause must span its whole period, or every write
    would land just after a scan.
    """
    pool = Pool(server.ws_url(path))
    client = await pool.open_one()
    await asyncio.wait_for(client.ready.wait(), 60)
    seconds: list[float] = []
    missed = 0
    try:
        for _ in range(samples):
            adw_id = bench.pick()
            tmp, target, number = bench.mutator.prepare(adw_id)
            await asyncio.sleep(bench.rng.uniform(*pause))
            expectation = pool.expect(marker(adw_id, number), want=1)
            started = time.perf_counter()
            bench.mutator.commit(tmp, target)
            try:
                await asyncio.wait_for(expectation.done.wait(), timeout)
            except TimeoutError:
                missed += 1
                continue
            seconds.append(expectation.times[client.index] - started)
    finally:
        await pool.close()
    return LatencyResult(seconds, missed)


async def change_bytes(
    bench: Bench, server: ServerProcess, path: str, changes: int, *, settle: float = 0.5
) -> list[int]:
    """Payload bytes of every message a client gets for one single-workflow change."""
    pool = Pool(server.ws_url(path))
    client = await pool.open_one()
    await asyncio.wait_for(client.ready.wait(), 60)
    sizes: list[int] = []
    try:
        for _ in range(changes):
            adw_id = bench.pick()
            tmp, target, number = bench.mutator.prepare(adw_id)
            await asyncio.sleep(0.2)
            expectation = pool.expect(marker(adw_id, number), want=1)
            client.log = []
            bench.mutator.commit(tmp, target)
            await asyncio.wait_for(expectation.done.wait(), 10)
            await asyncio.sleep(settle)  # a change split over two messages counts whole
            sizes.append(sum(r.size for r in client.log))
            client.log = None
    finally:
        await pool.close()
    return sizes
