"""Smoke tests of the benchmark itself: `python -m pytest bench` (not part of `tests/`).

They assert only generous sanity bounds: the benchmark prints numbers, it does not gate on
them, and this machine is shared.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from bench import report
from bench.baseline_server import get_workflows_data
from bench.clients import marker
from bench.data import GITHUB_REPO, Mutator, build_tree
from bench.main import main
from bench.stats import percentile


def test_the_tree_is_realistic_and_the_baseline_reads_it(tmp_path: Path) -> None:
    tree = build_tree(tmp_path, 50, seed=7)
    assert len(tree.ids) == 50
    folder = tree.agents_dir / tree.ids[0]
    state = json.loads((folder / "adw_state.json").read_text())
    assert state["adw_id"] == tree.ids[0]
    assert any(p.name.startswith("adw_") for p in folder.iterdir())
    assert list(folder.glob("*/raw_output.jsonl"))
    records = get_workflows_data(tree.agents_dir, GITHUB_REPO)
    assert [r["adw_id"] for r in records] == tree.ids
    assert set(records[0]) == {"adw_id", "issue_number", "phase", "github_url"}


def test_a_change_is_found_by_its_marker(tmp_path: Path) -> None:
    tree = build_tree(tmp_path, 5, seed=7)
    mutator = Mutator(tree.agents_dir)
    adw_id = random.Random(1).choice(tree.ids)
    tmp, target, number = mutator.prepare(adw_id)
    mutator.commit(tmp, target)
    record = next(
        r for r in get_workflows_data(tree.agents_dir, GITHUB_REPO) if r["adw_id"] == adw_id
    )
    text = json.dumps({"data": [record]}, separators=(",", ":"))
    assert marker(adw_id, number).decode() in text


def test_percentiles_and_the_table() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    rows = report.build_rows(
        {"latency_p2": {"p50": 10.0, "p99": 30.0}}, {"latency_seed": {"p50": 1000.0}}, 10, 5
    )
    assert rows[0].ratio == 0.01 and rows[0].verdict == "pass"
    assert "| 1 write→WS p50, protocol 2 | 10.0 ms | 1,000.0 ms |" in report.markdown(rows)


def test_a_small_run_of_livewatch_gives_sane_numbers(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    argv = ["--quick", "--workflows", "200", "--clients", "20", "--only", "livewatch"]
    assert main([*argv, "--skip-dom", "--json", str(out)]) == 0
    rows = {r["metric"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["1 write→WS p50, protocol 2"]["livewatch"] < 1000
    assert rows["2 bytes per change, protocol 2"]["livewatch"] < 10_000
    assert rows["4 fan-out p99, 20 clients"]["livewatch"] < 5000
    assert rows["5 cold start to full snapshot"]["livewatch"] < 60


def test_idle_cpu_is_averaged_over_whole_periods() -> None:
    from bench.metrics.idle import periodic_mean

    # 0.1 % of a core at rest, and a 1 CPU-s burst every 10 s starting at t=2: 1 s bursts.
    samples, cpu = [], 0.0
    for i in range(0, 101):
        t = i * 0.25
        samples.append((t, cpu))
        cpu += 0.25 * (1.0 if (t - 2) % 10 < 1 and t >= 2 else 0.001)
    figures = periodic_mean(samples)
    assert figures["bursts"] == 3
    assert abs(figures["period_s"] - 10) < 0.01
    assert abs(figures["percent"] - (1 + 9 * 0.001) / 10 * 100) < 0.1


def test_a_quick_events_run_gives_sane_numbers(tmp_path: Path) -> None:
    out = tmp_path / "events.json"
    script = Path(__file__).resolve().parent / "events.py"
    command = [sys.executable, str(script), "--quick", "--no-browser", "--json", str(out)]
    command += ["--seconds", "2", "--huge-mb", "5"]  # a smoke test: enough to see it work
    done = subprocess.run(command, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())["results"]
    flow, huge = results["flow"], results["huge"]
    assert flow["written"] == flow["received"] == 200  # 10 agents x 10 lines/s x 2 s
    assert flow["lost"] == 0 and flow["duplicated"] == 0
    assert 0 < flow["latency"]["p50"] < 1000
    assert 0 <= flow["cpu_pct"] < 200 and flow["rss_growth_mb"] < 200
    assert flow["workflows"]["n"] > 0 and flow["workflows"]["p50"] < 1000
    assert 1024 <= huge["read_at_arrival_bytes"] < 1 << 20  # the line itself, not the file
    assert huge["read_in_window_bytes"] < 1 << 20
    assert huge["baseline_bytes"] > 5 << 20  # the whole 5 MB transcript
    assert "metric" in done.stdout and "follower read" in done.stdout


def test_a_quick_hooks_run_gives_sane_numbers(tmp_path: Path) -> None:
    out = tmp_path / "hooks.json"
    script = Path(__file__).resolve().parent / "hooks.py"
    command = [sys.executable, str(script), "--quick", "--json", str(out)]
    command += ["--seconds", "2"]  # a smoke test: enough to see it work
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    flow = json.loads(out.read_text())["results"]["flow"]
    assert flow["sent"] == flow["accepted"] == 400, flow["statuses"]  # 200/s for 2 s
    assert flow["not_accepted"] == {} and flow["stored_missing"] == 0
    for name in ("ws_events", "stream"):
        stream = flow[name]
        assert stream["lost"] == 0 and stream["duplicated"] == 0, (name, stream)
        assert 0 < stream["latency"]["p50"] < 1000, (name, stream["latency"])
    assert 0 < flow["post_latency"]["p50"] < 1000
    assert 0 <= flow["cpu_pct"] < 200 and flow["rss_growth_mb"] < 200
    assert "metric" in done.stdout and "POST → /stream p99" in done.stdout


def test_the_history_benchmark_parts_work_at_small_scale(tmp_path: Path) -> None:
    from bench.history import generate_runs, table
    from livewatch.history.backfill import backfill
    from livewatch.store.database import database_url, open_engine
    from livewatch.store.history import HistoryStore

    db = tmp_path / "runs.db"
    generate_runs(db, 300, days=10)
    engine = open_engine(database_url(db))
    summary = HistoryStore(engine).summary(days=11)  # ten days back reach into an 11th
    engine.dispose()
    assert sum(sum(day["runs"].values()) for day in summary["days"]) == 300
    assert summary["phases"]["plan"]["p50_ms"] > 0
    tree = build_tree(tmp_path, 30, seed=7)
    assert backfill(tree.agents_dir, str(tmp_path / "backfill.db")) == 30
    shown = table(
        {
            "backfill": {"seconds": 1.0, "wall_s": 2.0, "latency": {"p50": 12.0, "n": 4}},
            "summary": {"p50": 40.0, "p95": 60.0, "server_cpu_ms": 10.0},
            "runs_page": {"p50": 20.0, "server_cpu_ms": 5.0},
        }
    )
    assert "| summary?days=90 p50" in shown and "pass" in shown


def test_a_quick_cold_restart_gives_sane_numbers(tmp_path: Path) -> None:
    out = tmp_path / "startup.json"
    script = Path(__file__).resolve().parent / "startup.py"
    command = [sys.executable, str(script), "--quick", "--json", str(out), "--workflows", "40"]
    command += ["--scenarios", "cold restart", "--write-s", "1", "--data-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    restart = json.loads(out.read_text())["results"]["livewatch"]["cold restart"]
    # Every 100 ms for 1 s: 10 writes, or one fewer when a loaded machine delays the loop.
    assert restart["writes"] >= 9 and restart["missed"] == 0
    assert 0 < restart["p50_ms"] < 2000
    assert 0 < restart["full_list_s"][0] <= restart["verified_s"][0]
    assert "cold restart" in done.stdout and "write→client" in done.stdout


def test_a_few_lightweight_tabs_get_small_patches(tmp_path: Path) -> None:
    """bench/tabs.py in miniature: 200 workflows, 2 tabs, 2 changes."""
    import asyncio

    from bench.tabs import scenario

    steps = asyncio.run(scenario(200, [2], tmp_path, changes_per_step=2, idle_s=0.3, wait_s=0.4))
    assert [s.tabs for s in steps] == [2]
    for step in steps:
        assert len(step.latencies_ms) == 2 * step.tabs  # every tab saw every change
        assert 0 < step.bytes_on_page < 1500
        assert 0 < step.bytes_off_page < 200
