"""Metric 4: one change delivered to many clients; receipt time minus write time, per client."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from typing import Any

from bench.clients import Pool, marker
from bench.metrics import Bench
from bench.servers import ServerProcess
from bench.stats import summary_ms


async def fanout(
    bench: Bench,
    server: ServerProcess,
    path: str,
    clients: int,
    repeats: int,
    *,
    timeout: float,
    pause: tuple[float, float] = (0.3, 0.6),
) -> dict[str, Any]:
    """Connect `clients`, then time `repeats` changes; `pause` as in `ws.latency`.

    Per change: receipt minus write time on every client, summarized over the clients."""
    pool = Pool(server.ws_url(path))
    seconds: list[float] = []
    per_repeat: list[dict[str, float]] = []
    missing = 0
    try:
        connect_s = await pool.open(clients)
        await asyncio.sleep(2.0)
        # The 1,000 clients are the measuring instrument: keep its garbage collector from
        # pausing the reads (the server's collector stays on: it is part of what we measure).
        gc.collect()
        gc.freeze()
        for _ in range(repeats):
            adw_id = bench.pick()
            tmp, target, number = bench.mutator.prepare(adw_id)
            await asyncio.sleep(bench.rng.uniform(*pause))
            expectation = pool.expect(marker(adw_id, number))
            started = time.perf_counter()
            bench.mutator.commit(tmp, target)
            with contextlib.suppress(TimeoutError):  # the missing ones are counted below
                await asyncio.wait_for(expectation.done.wait(), timeout)
            got = [at - started for at in expectation.times.values()]
            missing += clients - len(got)
            seconds += got
            per_repeat.append(summary_ms(got))
    finally:
        gc.unfreeze()
        await pool.close()
    p99s = sorted(r["p99"] for r in per_repeat if r.get("n"))
    return {
        # Each change's p99 over the clients; the figure is the median over the changes, so
        # one change disturbed by the rest of the machine does not decide it (max: the worst).
        "p99": p99s[len(p99s) // 2] if p99s else float("nan"),
        "p99_max": p99s[-1] if p99s else float("nan"),
        "summary": summary_ms(seconds),
        "per_repeat": per_repeat,
        "missing": missing,
        "connect_s": connect_s,
    }
