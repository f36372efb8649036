"""Metric 3: CPU the server burns with clients connected and nothing changing.

A server may do its idle work in periodic bursts (livewatch's reconciliation rescan every
`reconcile_s`, the baseline's 2 s poll), and a window that holds one burst more or less than
its fair share gives a figure that is off by the whole burst. So the server's CPU is sampled
every SAMPLE_S; when two or more bursts start in the window, the figure is the CPU from the
first burst's start to the last one's, over that time: a whole number of periods, hence the
long-run average. Otherwise it is the plain mean over the window.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.clients import Pool
from bench.servers import ServerProcess

SAMPLE_S = 0.25
BURST_SHARE = 0.3  # a sample above this share of a core is part of a burst


def periodic_mean(samples: list[tuple[float, float]]) -> dict[str, Any]:
    """From (monotonic time, cumulative CPU seconds) samples: window and per-period means."""
    (t_first, c_first), (t_last, c_last) = samples[0], samples[-1]
    starts: list[int] = []  # indexes of the samples that open a burst
    busy_before = False
    for i in range(1, len(samples)):
        (t0, c0), (t1, c1) = samples[i - 1], samples[i]
        busy = (c1 - c0) / max(t1 - t0, 1e-9) > BURST_SHARE
        if busy and not busy_before:
            starts.append(i - 1)
        busy_before = busy
    out: dict[str, Any] = {
        "window_percent": 100 * (c_last - c_first) / (t_last - t_first),
        "bursts": len(starts),
    }
    if len(starts) >= 2:
        (ta, ca), (tb, cb) = samples[starts[0]], samples[starts[-1]]
        out["period_s"] = (tb - ta) / (len(starts) - 1)
        out["burst_cpu_s"] = (cb - ca) / (len(starts) - 1)
        out["percent"] = 100 * (cb - ca) / (tb - ta)
    else:
        out["percent"] = out["window_percent"]
    return out


async def idle_cpu(
    server: ServerProcess, path: str, clients: int, window_s: float, *, settle_s: float = 2.0
) -> dict[str, Any]:
    """Percent of one core (utime+stime from /proc) with `clients` connected, nothing changing."""
    pool = Pool(server.ws_url(path))
    samples: list[tuple[float, float]] = []
    try:
        connect_s = await pool.open(clients)
        await asyncio.sleep(settle_s)
        started = time.monotonic()
        while True:
            samples.append((time.monotonic(), server.cpu_seconds()))
            if samples[-1][0] - started >= window_s:
                break
            await asyncio.sleep(SAMPLE_S)
    finally:
        await pool.close()
    t0, c0 = samples[0]
    trace = [(round(t - t0, 2), round(c - c0, 2)) for t, c in samples]
    return {
        **periodic_mean(samples),
        "window_s": window_s,
        "connect_s": connect_s,
        "samples": trace,  # (seconds, CPU seconds) since the window opened
    }
