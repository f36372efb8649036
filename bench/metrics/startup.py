"""Metric 5: from spawning the server to a client holding the first full list; then RSS."""

from __future__ import annotations

import asyncio
import json
import time

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidMessage

from bench.servers import ServerProcess


async def cold_start(
    server: ServerProcess, path: str, expected: int, *, timeout: float = 120.0
) -> dict[str, float]:
    """Spawn `server`, connect as soon as the port takes it, wait for all `expected` records."""
    server.spawn()
    deadline = time.perf_counter() + timeout
    while True:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited during start:\n{server.log_tail()}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{server.name} gave no full list in {timeout}s")
        try:
            ws = await connect(
                server.ws_url(path),
                max_size=None,
                compression=None,
                ping_interval=None,
                open_timeout=timeout,
            )
        except (OSError, InvalidHandshake, InvalidMessage):
            await asyncio.sleep(0.01)
            continue
        async with ws:
            while True:
                data = await asyncio.wait_for(ws.recv(decode=False), timeout)
                at = time.perf_counter()
                records = json.loads(data).get("data")
                if isinstance(records, list) and len(records) >= expected:
                    break
        break
    return {
        "seconds": at - server.spawned_at,
        "rss_mb": server.rss_mb(),
        "peak_rss_mb": server.rss_mb("VmHWM"),
        "snapshot_bytes": len(data),
    }
