"""Benchmark livewatch against a seed-style baseline, on the same generated data, in one run.

    python bench/run.py [--workflows 10000] [--clients 1000] [--quick] [--json out.json]

Builds an agents tree in a temp dir, then, for each server in turn (as a child process on a
free loopback port, stopped after use): cold start and RSS, write→message latency, bytes per
change, idle CPU, fan-out, and (livewatch only) write→DOM latency in Chromium. Prints one
table; ratio = livewatch ÷ baseline, so lower is better on every row.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.main import main

if __name__ == "__main__":
    sys.exit(main())
