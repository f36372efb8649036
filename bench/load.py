"""How busy the rest of the machine was while we measured.

Two cores are easily disturbed: a test suite running beside the benchmark halves what the
servers get. `Background` reads the machine's busy time (/proc/stat) and subtracts the CPU
of this process tree (the benchmark, the servers it spawned, Chromium); what is left was
spent by other processes. Each measurement records it, and the report prints it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from bench import proc

TICKS = os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, steal) jiffies of all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq, steal


def _tree_ticks(root: int) -> int:
    """CPU of `root` and every live descendant, with the children they already reaped."""
    return sum(proc.cpu_ticks(pid, reaped=True) for pid in proc.tree(root))


@dataclass
class Background:
    """CPU that other processes used between `start()` and `stop()`, in % of one core."""

    started: float = 0.0
    busy0: int = 0
    steal0: int = 0
    ours0: int = 0

    def start(self) -> Background:
        self.started = time.monotonic()
        (self.busy0, self.steal0), self.ours0 = _machine_ticks(), _tree_ticks(os.getpid())
        return self

    def stop(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        busy, steal = _machine_ticks()
        ours = _tree_ticks(os.getpid())
        others = max(0, (busy - self.busy0) - (ours - self.ours0))
        return {
            "others_pct": 100 * others / TICKS / elapsed,
            "steal_pct": 100 * (steal - self.steal0) / TICKS / elapsed,
            "ours_pct": 100 * (ours - self.ours0) / TICKS / elapsed,
            "seconds": elapsed,
        }


def load_average() -> float:
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])
