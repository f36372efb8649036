"""The history store on a real database: merged upserts, paging, the rollup, the tally."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from livewatch.store.database import database_url, migrate, open_engine
from livewatch.store.history import HistoryStore
from livewatch.store.history_sql import DAY_MS, decode_cursor
from livewatch.store.schema import run_phases, runs

NOW = 1_764_000_000_000 // DAY_MS * DAY_MS + 12 * 3_600_000  # noon UTC, some day in 2025
MIN = 60_000


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same history on either database: replicas share a PostgreSQL one."""
    if request.param == "sqlite":
        url = database_url(tmp_path / "history.db")
    else:
        url = request.getfixturevalue("postgres_url")
    opened = open_engine(url)
    migrate(opened)
    yield opened
    opened.dispose()


@pytest.fixture
def history(engine: Engine) -> HistoryStore:
    return HistoryStore(engine)


def run(adw_id: str, first: int, **fields: Any) -> dict[str, Any]:
    row = {
        "adw_id": adw_id,
        "first_seen_ms": first,
        "last_seen_ms": first,
        "ended_ms": None,
        "duration_ms": 0,
        "host": None,
        "issue_number": 1,
        "issue_class": "/feature",
        "model_set": "base",
        "status": "running",
        "outcome": "running",
        "cost_usd": None,
        "tokens_in": None,
        "tokens_out": None,
    }
    return row | fields


def phase(adw_id: str, name: str, start: int, end: int | None) -> dict[str, Any]:
    return {"adw_id": adw_id, "phase": name, "started_ms": start, "ended_ms": end}


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def test_live_and_backfill_merge_into_one_run_whatever_the_order(
    history: HistoryStore, engine: Engine
) -> None:
    # Live saw the run finish just now; the backfill read its folder: it began an hour ago.
    history.write("runs", [run("a1", NOW, status="completed", outcome="completed", ended_ms=NOW)])
    history.write("run_phases", [phase("a1", "build", NOW, NOW)])
    history.write("runs", [run("a1", NOW - 60 * MIN, last_seen_ms=NOW - MIN, cost_usd=1.5)], "fill")
    history.write(
        "run_phases",
        [
            phase("a1", "plan", NOW - 60 * MIN, NOW - 20 * MIN),
            phase("a1", "build", NOW - 20 * MIN, None),
        ],
        "fill",
    )
    page = history.runs()
    assert count(engine, runs) == 1 and count(engine, run_phases) == 2
    [got] = page["runs"]
    assert got["outcome"] == "completed"  # the live status wins
    assert got["cost_usd"] == 1.5  # the backfill fills what live did not know
    assert got["duration_ms"] == 60 * MIN  # from the earliest start to the live end
    assert [(p["phase"], p["duration_ms"]) for p in got["phases"]] == [
        ("plan", 40 * MIN),
        ("build", 20 * MIN),
    ]


def test_a_run_written_twice_in_one_batch_and_again_later_is_one_row(
    history: HistoryStore, engine: Engine
) -> None:
    history.start()
    try:
        history.submit("runs", [run("b1", NOW), run("b1", NOW + MIN, last_seen_ms=NOW + MIN)])
        history.submit("run_phases", [phase("b1", "plan", NOW, None)] * 2)
        assert history.flush_sync(timeout=10)
        history.submit("runs", [run("b1", NOW + 2 * MIN, last_seen_ms=NOW + 2 * MIN)])
        assert history.flush_sync(timeout=10)
    finally:
        history.close()
    assert count(engine, runs) == 1 and count(engine, run_phases) == 1
    [got] = history.runs()["runs"]
    assert got["started_at"].startswith("2025-") and got["duration_ms"] == 2 * MIN


def test_pages_by_keyset_without_gaps_or_repeats(history: HistoryStore) -> None:
    rows = [
        run(f"r{i:02d}", NOW - i * MIN, last_seen_ms=NOW, cost_usd=float(i % 7)) for i in range(25)
    ]
    history.write("runs", rows)
    for sort, key in (
        ("newest", "started_at"),
        ("slowest", "duration_ms"),
        ("costliest", "cost_usd"),
    ):
        seen, cursor = [], None
        while True:
            page = history.runs(sort=sort, limit=10, cursor=cursor)  # type: ignore[arg-type]
            seen += page["runs"]
            if (cursor := page["next_cursor"]) is None:
                break
        assert len({r["adw_id"] for r in seen}) == 25 == len(seen), sort
        values = [r[key] for r in seen]
        assert values == sorted(values, reverse=True), sort
    assert history.runs(sort="slowest", limit=1)["runs"][0]["adw_id"] == "r24"
    with pytest.raises(ValueError):
        decode_cursor("not-a-cursor")


def test_filters_by_range_outcome_and_class(history: HistoryStore) -> None:
    history.write(
        "runs",
        [
            run("old", NOW - 10 * DAY_MS),
            run("bad", NOW, outcome="failed", status="failed", issue_class="/bug"),
            run("ok", NOW, outcome="completed", status="completed"),
            run("stuck", NOW, outcome="stalled", status="stalled"),
        ],
    )

    def ids(**filters: Any) -> set[str]:
        return {r["adw_id"] for r in history.runs(**filters)["runs"]}

    assert ids(from_ms=NOW - DAY_MS) == {"bad", "ok", "stuck"}
    assert ids(to_ms=NOW - DAY_MS) == {"old"}
    assert ids(outcome="stalled") == {"stuck"}
    assert ids(issue_class="/bug") == {"bad"}


def test_the_summary_counts_days_costs_phases_and_classes(history: HistoryStore) -> None:
    yesterday = NOW - DAY_MS
    history.write(
        "runs",
        [
            run("s1", yesterday, outcome="completed", status="completed", cost_usd=1.0),
            run(
                "s2", yesterday, outcome="failed", status="failed", cost_usd=2.0, model_set="heavy"
            ),
            run(
                "s3", NOW, outcome="completed", status="completed", cost_usd=0.5, issue_class="/bug"
            ),
            run("s4", NOW, outcome="stalled", status="stalled", issue_class="/bug"),
        ],
    )
    history.write(
        "run_phases",
        [phase(f"s{i}", "build", NOW, NOW + i * 10 * MIN) for i in range(1, 5)],
    )
    history.rollup()
    summary = history.summary(days=7, now_ms=NOW)
    days = {d["day"]: d for d in summary["days"]}
    assert len(days) == 7
    today, before = days[summary["to"]], summary["days"][-2]
    assert today["runs"] == {"completed": 1, "failed": 0, "stalled": 1, "running": 0}
    assert before["runs"]["failed"] == 1 and before["cost_usd"] == {"base": 1.0, "heavy": 2.0}
    build = summary["phases"]["build"]
    assert build["count"] == 4
    # Buckets are 8 % wide: p50 of 10..40 minutes is about 20 minutes, p95 about 40.
    assert 18 * MIN <= build["p50_ms"] <= 22 * MIN
    assert 37 * MIN <= build["p95_ms"] <= 43 * MIN
    assert summary["phases"]["ship"] == {"count": 0, "p50_ms": None, "p95_ms": None}
    # Success among ended runs: a stalled run may still resume, so it is counted apart.
    assert summary["classes"]["/bug"]["success_rate"] == 1.0
    assert summary["classes"]["/bug"]["stalled"] == 1
    assert summary["classes"]["/feature"]["success_rate"] == 0.5


def test_a_run_moved_to_an_earlier_day_leaves_the_later_one(history: HistoryStore) -> None:
    history.write("runs", [run("m1", NOW)])
    history.rollup()
    history.write("runs", [run("m1", NOW - 2 * DAY_MS)], "fill")
    history.rollup()
    per_day = {d["day"]: d["runs"]["running"] for d in history.summary(7, NOW)["days"]}
    assert sum(per_day.values()) == 1


def test_only_what_the_rollup_sums_makes_a_day_stale(history: HistoryStore) -> None:
    history.write("runs", [run("t1", NOW, tokens_in=10, tokens_out=1)])
    assert history.stale_days == {NOW // DAY_MS}
    history.rollup()
    assert history.stale_days == frozenset()
    history.write("runs", [run("t1", NOW, tokens_in=500, tokens_out=90)])
    assert history.stale_days == frozenset()  # tokens: not summed per day, nothing to rebuild
    history.write("runs", [run("t1", NOW, cost_usd=0.25)])
    assert history.stale_days == {NOW // DAY_MS}
    history.rollup()
    history.write("run_phases", [phase("t1", "build", NOW, NOW + MIN)])
    assert history.stale_days == {NOW // DAY_MS}
    history.rollup()
    assert history.summary(1, NOW)["days"][-1]["cost_usd"] == {"base": 0.25}


def test_the_activity_tally_keeps_the_larger_count(history: HistoryStore) -> None:
    minute = NOW // 1000 // 60 * 60
    history.write("activity", [{"minute": minute, "count": 5}])
    history.write("activity", [{"minute": minute, "count": 3}])  # another replica, fewer
    history.write("activity", [{"minute": minute + 60, "count": 2}])
    assert history.activity(minute) == [(minute, 5), (minute + 60, 2)]


def test_a_corrupt_file_degrades_the_history_until_it_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database, just bytes " * 300)
    engine = open_engine(database_url(path))
    history = HistoryStore(engine)
    history._writer.retry_max_s = 0.1  # retry fast: this is a test
    history.start()
    try:
        assert history.state == "degraded"
        assert any("history cannot open" in r.getMessage() for r in caplog.records)
        history.submit("runs", [run("c1", NOW)])
        assert not history.flush_sync(timeout=0.3)  # kept in memory, not written
        path.unlink()  # the operator moves the bad file away
        assert history.flush_sync(timeout=10)
        assert history.state == "ok"
        assert [r["adw_id"] for r in history.runs()["runs"]] == ["c1"]
    finally:
        history.close()
        engine.dispose()
