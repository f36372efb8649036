"""The six measurements; each takes a running server and returns plain numbers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.data import Mutator, Tree

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """How much of everything one run does (`--quick` shrinks it)."""

    workflows: int = 10_000
    clients: int = 1_000
    idle_clients: int = 100
    latency_samples: int = 200  # livewatch, protocol 2
    seed_latency_samples: int = 50  # livewatch, seed format (megabyte messages)
    baseline_latency_samples: int = 20  # ~1-2 s each by construction
    byte_changes: int = 5
    # Long enough for two livewatch reconciliation passes (every 30 s + the pass), so the
    # per-period average is measured (see metrics/idle.py); the baseline polls every ~2.6 s.
    idle_window_s: float = 75.0
    baseline_idle_window_s: float = 30.0
    fanout_repeats: int = 7
    baseline_fanout_repeats: int = 2
    dom_samples: int = 40


@dataclass
class Bench:
    """What every measurement shares: the data, the writer, the plan and a seeded RNG."""

    tree: Tree
    mutator: Mutator
    plan: Plan
    rng: random.Random
    log_dir: Path

    def pick(self) -> str:
        return self.rng.choice(self.tree.ids)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one measurement on a fresh event loop (uvloop when installed, as the servers use)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)
