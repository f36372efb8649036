"""The history summary from the daily rollup: pure, so it is tested without a database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from livewatch.hub.records import PHASES
from livewatch.store.history_sql import DAY_MS, OUTCOMES, bucket_value

PERCENTILES = (50, 95)


def day_label(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_MS / 1000, tz=UTC).strftime("%Y-%m-%d")


def percentile(buckets: Mapping[int, int], q: float) -> float | None:
    """The q-th percentile (0..100) of durations counted in buckets; None when empty."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank, seen = q / 100 * total, 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen >= rank:
            return round(bucket_value(bucket))
    return round(bucket_value(max(buckets)))


def summarize(rows: Iterable[Sequence[Any]], first_day: int, last_day: int) -> dict[str, Any]:
    """Per day: runs by outcome and cost by model set; over the range: phase percentiles and
    success per issue class. Every day of the range is listed, empty ones too.

    `rows`: (day, kind, a, b, count, total) of the rollup (see `history_sql.daily_rows`).
    """
    days = {
        day: {"day": day_label(day), "runs": dict.fromkeys(OUTCOMES, 0), "cost_usd": {}}
        for day in range(first_day, last_day + 1)
    }
    phases: dict[str, dict[int, int]] = {phase: {} for phase in PHASES}
    classes: dict[str, dict[str, int]] = {}
    for day, kind, a, b, raw_count, total in rows:
        count = int(raw_count)
        entry = days.get(day)
        if kind == "outcome" and entry is not None:
            entry["runs"][a] = entry["runs"].get(a, 0) + count
        elif kind == "cost" and entry is not None:
            entry["cost_usd"][a or "unknown"] = round(float(total), 6)
        elif kind == "class":
            tally = classes.setdefault(a or "unknown", {})
            tally[b] = tally.get(b, 0) + count
        elif kind == "phase":
            counts = phases.setdefault(a, {})
            counts[int(b)] = counts.get(int(b), 0) + count
    return {
        "from": day_label(first_day),
        "from_ms": first_day * DAY_MS,
        "to": day_label(last_day),
        "days": list(days.values()),
        "phases": {
            phase: {
                "count": sum(counts.values()),
                **{f"p{q}_ms": percentile(counts, q) for q in PERCENTILES},
            }
            for phase, counts in phases.items()
        },
        "classes": {name: _success(tally) for name, tally in sorted(classes.items())},
    }


def _success(tally: dict[str, int]) -> dict[str, Any]:
    # Success among the runs that ended; stalled ones may still resume, so they count apart.
    completed = tally.get("completed", 0)
    finished = completed + tally.get("failed", 0)
    return {
        "runs": sum(tally.values()),
        "finished": finished,
        "completed": completed,
        "stalled": tally.get("stalled", 0),
        "success_rate": round(completed / finished, 4) if finished else None,
    }
