"""The process's heap policy: what the first pass loaded is frozen once the list is verified."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from livewatch.server import freeze_first_pass


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # give this test process's heap back to the collector


async def test_the_first_pass_heap_is_frozen_once_the_list_is_verified(unfrozen: None) -> None:
    verifying, stop = True, asyncio.Event()
    task = asyncio.create_task(freeze_first_pass(lambda: verifying, stop))
    loaded = [{"event": n} for n in range(5_000)]  # what a first pass keeps
    await asyncio.sleep(0.7)
    assert gc.get_freeze_count() == 0, "frozen while the first pass still ran"
    verifying = False
    async with asyncio.timeout(5):
        while gc.get_freeze_count() < len(loaded):
            await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_a_server_stopped_during_the_first_pass_freezes_nothing(unfrozen: None) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(freeze_first_pass(lambda: True, stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert gc.get_freeze_count() == 0
