"""`pages/idle_tabs.py`: an idle tab's outbox sleeps until there is something to send."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from nicegui import outbox

PAGE = Path(__file__).resolve().parents[1] / "pages" / "idle_tabs.py"


def load_idle_tabs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("livewatch_test_idle_tabs", PAGE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_the_outbox_idle_wait_no_longer_wakes_every_second() -> None:
    idle_tabs = load_idle_tabs()
    assert idle_tabs.untime_outbox_idle_wait()  # NiceGUI's outbox is the code it was made for
    seen = outbox.asyncio  # what NiceGUI's outbox module calls `asyncio`
    assert seen.sleep is asyncio.sleep and seen.Event is asyncio.Event  # the rest is asyncio

    enqueued = asyncio.Event()
    # NiceGUI asks for a 1 s timeout; a short one shows it is no longer applied.
    waiting = asyncio.ensure_future(seen.wait_for(enqueued.wait(), timeout=0.01))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # no TimeoutError: still asleep
    enqueued.set()  # what every enqueue, and `Outbox.stop()`, does
    assert await asyncio.wait_for(waiting, timeout=1) is True


def test_patching_twice_is_harmless() -> None:
    idle_tabs = load_idle_tabs()
    assert idle_tabs.untime_outbox_idle_wait()
    assert idle_tabs.untime_outbox_idle_wait()
    assert isinstance(outbox.asyncio, idle_tabs._UntimedWaitFor)
