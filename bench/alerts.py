"""How fast alerts go out: a stall seen after the threshold, a failure posted, and what the
once-a-second stall check costs with many running workflows.

    python bench/alerts.py                       # 1,000 running workflows, --stall-after-s 20
    python bench/alerts.py --workflows 200 --stall-after-s 10 --json out.json

A real `livewatch serve` posts to a real HTTP receiver in this process. Numbers:
- CPU of the server's process tree over a quiet 10 s while N workflows are running (the 1 Hz
  check looks at each), and again once they have all stalled (it looks at none);
- stall lateness: the receiver's arrival time minus (each workflow's write + threshold);
- failure latency: a state file written `failed` → the receiver has the post;
- each alert once: the receiver's posts per key.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import proc
from livewatch.testing import LiveServer
from tests.webhook_receiver import Receiver

QUIET_S = 10.0


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": statistics.median(ordered), "p99": p99, "max": ordered[-1]}


def cpu_pct(pid: int, seconds: float) -> float:
    """The process tree's CPU over `seconds`, in % of one core."""
    tick = os.sysconf("SC_CLK_TCK")
    before = sum(proc.cpu_ticks(p) for p in proc.tree(pid))
    time.sleep(seconds)
    after = sum(proc.cpu_ticks(p) for p in proc.tree(pid))
    return 100.0 * (after - before) / tick / seconds


def run(workflows: int, stall_after_s: float, failures: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="lw-alerts-bench-"))
    agents = root / "agents"
    agents.mkdir()
    with Receiver("ok") as rx:
        args = ["--alert-webhook", rx.url, "--stall-after-s", str(stall_after_s)]
        server = LiveServer(agents, args=args).start(timeout=120)
        try:
            assert server.process is not None
            written: dict[str, float] = {}
            for i in range(workflows):
                adw_id = f"b{i:07d}"
                server.agents.write(adw_id)
                written[adw_id] = time.time()
            time.sleep(2)  # the writes are read
            running_cpu = cpu_pct(server.process.pid, QUIET_S)
            last = max(written.values()) + stall_after_s
            deadline = last + 60
            while time.time() < deadline and len(rx.posts) < workflows:
                time.sleep(0.2)
            arrivals = {p["body"]["adw_id"]: p["at"] for p in rx.posts}
            late = [arrivals[a] - (t + stall_after_s) for a, t in written.items() if a in arrivals]
            time.sleep(2)
            stalled_cpu = cpu_pct(server.process.pid, QUIET_S)
            failed_at: dict[str, float] = {}
            for adw_id in list(written)[:failures]:
                server.agents.write(adw_id, status="failed")
                failed_at[adw_id] = time.time()
                time.sleep(0.3)
            time.sleep(3)
            failed_posts = {
                p["body"]["adw_id"]: p["at"] for p in rx.posts if p["body"]["event"] == "failed"
            }
            keys = Counter((p["body"]["adw_id"], p["body"]["event"]) for p in rx.posts)
        finally:
            server.stop()
    return {
        "workflows": workflows,
        "stall_after_s": stall_after_s,
        "cpu_running_pct": running_cpu,
        "cpu_stalled_pct": stalled_cpu,
        "stall_alerts": len(late),
        "stall_late_s": percentiles(late),
        "failed_alerts": len(failed_posts),
        "failed_latency_ms": percentiles(
            [1000 * (failed_posts[a] - t) for a, t in failed_at.items() if a in failed_posts]
        ),
        "sent_twice": sum(1 for n in keys.values() if n > 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--stall-after-s", type=float, default=20.0)
    parser.add_argument("--failures", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.workflows, args.stall_after_s, args.failures)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    late, failed = result["stall_late_s"], result["failed_latency_ms"]
    rows = [
        ("server CPU, quiet, N running (1 Hz stall check)", f"{result['cpu_running_pct']:.2f} %"),
        ("server CPU, quiet, N stalled", f"{result['cpu_stalled_pct']:.2f} %"),
        ("stall alerts delivered", f"{result['stall_alerts']} of {result['workflows']}"),
        (
            "stall: threshold → post p50 / p99 / max",
            "{p50:.2f} / {p99:.2f} / {max:.2f} s".format(**late),
        ),
        ("failed: write → post p50 / p99", "{p50:.0f} / {p99:.0f} ms".format(**failed)),
        ("alerts sent twice", str(result["sent_twice"])),
    ]
    print(f"{'metric':<52} value")
    for name, value in rows:
        print(f"{name:<52} {value}")


if __name__ == "__main__":
    main()
