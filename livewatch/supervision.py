"""Long-running loops that outlive their own crashes, and sleeps that end when asked to stop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("livewatch.supervision")


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, but wake at once when `stop` is set; True when it was."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    first_delay: float = 0.5,
    max_delay: float = 30.0,
) -> None:
    """Run `run` until `stop`; after a crash, log it and start again with growing delays."""
    delay = first_delay
    while not stop.is_set():
        started = time.monotonic()
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("[WATCH] %s crashed; restarting in %.1fs", name, delay)
        else:
            if stop.is_set():
                return
            log.warning("[WATCH] %s ended unexpectedly; restarting in %.1fs", name, delay)
        # A loop that ran a good while before failing starts over with a short delay.
        delay = first_delay if time.monotonic() - started > max_delay else delay
        if await sleep_unless(stop, delay):
            return
        delay = min(delay * 2, max_delay)
