"""Reconnect delays: exponential with jitter, so replicas and agents don't retry in lockstep."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays of `first`, 2x, 4x, ... up to `cap` seconds, each one scaled by 0.5-1.5."""

    def __init__(
        self,
        first: float = 0.05,
        cap: float = 2.0,
        *,
        factor: float = 2.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.first = first
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt; each call makes the following one longer."""
        # The exponent stops growing once the cap is reached, so it never overflows.
        delay = min(self.cap, self.first * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return delay * (0.5 + self.jitter())

    def reset(self) -> None:
        """Back to the short first delay, once a connection worked."""
        self.attempts = 0
