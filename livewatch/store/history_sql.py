"""Run history's SQL: upserts that merge what two writers saw, pages, and the daily rollup.

Two writers may see one run: the live recorder (what the hub shows now) and the backfill
(what folder and file times say happened earlier), in one process or in several replicas
sharing a database. Each upsert merges instead of overwriting, so the order they land in
does not matter and a run or phase is never recorded twice (the primary keys see to that):
the earliest start wins, a live status wins over a backfilled one, a known end is kept.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.dml import Insert

from livewatch.hub.records import ENDED
from livewatch.store.queries import _insert, clamp
from livewatch.store.schema import activity_minutes, history_daily, run_agents, run_phases, runs

Row = dict[str, Any]
Mode = Literal["live", "fill"]  # the recorder's view of now, or the backfill's of the past
Sort = Literal["newest", "slowest", "costliest"]

DAY_MS = 86_400_000
OUTCOMES: tuple[str, ...] = ("completed", "failed", "stalled", "running")
# Kept as the run's outcome; of these only ENDED ones (completed, failed) end the run.
FINAL = frozenset({"completed", "failed", "stalled"})
# Phase durations are kept per day as counts in buckets 8 % wide: percentiles over any range
# come from ~40 rows a phase instead of every phase of every run, at most 4 % off.
BUCKET_RATIO = 1.08
RUN_FIELDS = ("host", "issue_number", "issue_class", "model_set", "cost_usd")
RUN_FIELDS += ("tokens_in", "tokens_out")


def outcome_of(status: str | None) -> str:
    """The run's outcome from a record's status: final ones as they are, else `running`."""
    return status if status in FINAL else "running"


def day_of(ms: int) -> int:
    return ms // DAY_MS


def bucket_of(duration_ms: float) -> int:
    return round(math.log(max(duration_ms, 1.0)) / math.log(BUCKET_RATIO))


def bucket_value(bucket: int) -> float:
    return BUCKET_RATIO**bucket


def _least(a: Any, b: Any) -> ColumnElement[Any]:
    # SQLite's min(a, b) is PostgreSQL's LEAST: a CASE is the one spelling both take.
    return case((b.is_(None), a), (a.is_(None), b), (a <= b, a), else_=b)


def _open(outcome: Any) -> ColumnElement[bool]:
    # Spelled out, not NOT IN: an expanding IN cannot run in an executemany.
    return and_(*(outcome != status for status in sorted(ENDED)))


def _greatest(a: Any, b: Any) -> ColumnElement[Any]:
    return case((b.is_(None), a), (a.is_(None), b), (a >= b, a), else_=b)


# -- writing ----------------------------------------------------------------------------


def upsert_runs(dialect: str, mode: Mode) -> Insert:
    """Insert runs, or merge them into the ones already there (see the module's docstring)."""
    stmt: Any = _insert(runs, dialect)
    new, old = stmt.excluded, runs.c
    first = _least(old.first_seen_ms, new.first_seen_ms)
    last = _greatest(old.last_seen_ms, new.last_seen_ms)
    if mode == "live":
        fields = {name: func.coalesce(new[name], old[name]) for name in RUN_FIELDS}
        fields |= {"status": new.status, "outcome": new.outcome}
        # A run that is running (or stalled) again has no end; an ended one keeps the end
        # first seen.
        ended: Any = case(
            (_open(new.outcome), None), else_=func.coalesce(old.ended_ms, new.ended_ms)
        )
    else:
        fields = {name: func.coalesce(old[name], new[name]) for name in RUN_FIELDS}
        ended = case(
            (_open(old.outcome), old.ended_ms),
            else_=func.coalesce(old.ended_ms, new.ended_ms),
        )
    fields |= {
        "first_seen_ms": first,
        "last_seen_ms": last,
        "ended_ms": ended,
        "duration_ms": func.coalesce(ended, last) - first,
    }
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[runs.c.adw_id], set_=fields
    )


def upsert_phases(dialect: str, mode: Mode) -> Insert:
    """A phase's earliest start wins; its end is the live one, else the one known."""
    stmt: Any = _insert(run_phases, dialect)
    new, old = stmt.excluded, run_phases.c
    ended = (
        func.coalesce(new.ended_ms, old.ended_ms)
        if mode == "live"
        else func.coalesce(old.ended_ms, new.ended_ms)
    )
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[old.adw_id, old.phase],
        set_={"started_ms": _least(old.started_ms, new.started_ms), "ended_ms": ended},
    )


def upsert_agents(dialect: str, mode: Mode) -> Insert:
    """An agent's newest result line wins live; the backfill only fills what is missing."""
    stmt: Any = _insert(run_agents, dialect)
    if mode == "fill":
        return stmt.on_conflict_do_nothing()  # type: ignore[no-any-return]
    names = ("ended_ms", "num_turns", "duration_ms", "cost_usd", "tokens_in", "tokens_out")
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[run_agents.c.adw_id, run_agents.c.agent],
        set_={name: stmt.excluded[name] for name in (*names, "is_error")},
    )


def upsert_activity(dialect: str) -> Insert:
    """Each process writes its own whole count for a minute: the larger one stays."""
    stmt: Any = _insert(activity_minutes, dialect)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[activity_minutes.c.minute],
        set_={"count": _greatest(activity_minutes.c["count"], stmt.excluded["count"])},
    )


# What the daily rollup sums of a run, first its first sighting (which names its day).
ROLLUP_FACTS = (
    runs.c.first_seen_ms,
    runs.c.outcome,
    runs.c.model_set,
    runs.c.issue_class,
    runs.c.cost_usd,
)


def rollup_facts(connection: Connection, adw_ids: Iterable[str]) -> dict[str, tuple[Any, ...]]:
    """What the rollup sums of each of these runs (those stored), in chunks."""
    ids, found = list(adw_ids), {}
    for start in range(0, len(ids), 500):
        stmt = select(runs.c.adw_id, *ROLLUP_FACTS).where(
            runs.c.adw_id.in_(ids[start : start + 500])
        )
        found.update({adw_id: tuple(facts) for adw_id, *facts in connection.execute(stmt)})
    return found


def rebuild_day(connection: Connection, day: int) -> None:
    """Derive one day's rollup afresh from its runs and phases (idempotent)."""
    start, end = day * DAY_MS, (day + 1) * DAY_MS
    in_day = and_(runs.c.first_seen_ms >= start, runs.c.first_seen_ms < end)
    cost = func.coalesce(func.sum(runs.c.cost_usd), 0.0)
    rows: list[Row] = []
    for label, key, second in (
        ("outcome", runs.c.outcome, None),
        ("cost", func.coalesce(runs.c.model_set, ""), None),
        ("class", func.coalesce(runs.c.issue_class, ""), runs.c.outcome),
    ):
        group = [key] if second is None else [key, second]
        stmt = select(*group, func.count(), cost).where(in_day).group_by(*group)
        for found in connection.execute(stmt):
            b = "" if second is None else found[1]
            rows.append(_daily(day, label, found[0], b, found[-2], found[-1]))
    buckets: dict[tuple[str, int], int] = {}
    phases = (
        select(run_phases.c.phase, run_phases.c.ended_ms - run_phases.c.started_ms)
        .join(runs, runs.c.adw_id == run_phases.c.adw_id)
        .where(in_day, run_phases.c.ended_ms.is_not(None))
    )
    for phase, duration in connection.execute(phases):
        key = (phase, bucket_of(max(0, duration)))
        buckets[key] = buckets.get(key, 0) + 1
    rows += [_daily(day, "phase", p, str(b), n, 0.0) for (p, b), n in buckets.items()]
    connection.execute(delete(history_daily).where(history_daily.c.day == day))
    if rows:
        connection.execute(history_daily.insert(), rows)


def _daily(day: int, kind: str, a: Any, b: Any, count: int, total: float) -> Row:
    return {"day": day, "kind": kind, "a": str(a), "b": str(b), "count": count, "total": total}


# -- reading ----------------------------------------------------------------------------

SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "newest": runs.c.first_seen_ms,
    "slowest": runs.c.duration_ms,
    # Unknown cost sorts below every known one.
    "costliest": func.coalesce(runs.c.cost_usd, literal(-1.0)),
}


def encode_cursor(value: float, adw_id: str) -> str:
    raw = json.dumps([value, adw_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The (sort value, adw_id) a page ended at; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, adw_id = json.loads(raw)
    except Exception as error:  # any garbage: binascii, unicode, JSON or unpacking errors
        raise ValueError("cursor is not one this API gave out") from error
    if not isinstance(value, int | float) or isinstance(value, bool) or not isinstance(adw_id, str):
        raise ValueError("cursor is not one this API gave out")
    return value, adw_id


def runs_page(
    *,
    from_ms: int | None,
    to_ms: int | None,
    outcome: str | None,
    issue_class: str | None,
    sort: Sort,
    after: tuple[float, str] | None,
    limit: int,
) -> Select[Any]:
    """One page of runs in the range (by first sighting), sorted descending, keyset-paged."""
    key = SORT_KEYS[sort]
    stmt = select(runs, key.label("sort_key"))
    if from_ms is not None:
        stmt = stmt.where(runs.c.first_seen_ms >= from_ms)
    if to_ms is not None:
        stmt = stmt.where(runs.c.first_seen_ms < to_ms)
    if outcome is not None:
        stmt = stmt.where(runs.c.outcome == outcome)
    if issue_class is not None:
        stmt = stmt.where(runs.c.issue_class == issue_class)
    if after is not None:
        value, adw_id = after
        stmt = stmt.where(or_(key < value, and_(key == value, runs.c.adw_id < adw_id)))
    return stmt.order_by(key.desc(), runs.c.adw_id.desc()).limit(clamp(limit))


def parts_of(connection: Connection, adw_ids: list[str]) -> tuple[list[Row], list[Row]]:
    """The phases and agents of these runs."""
    if not adw_ids:
        return [], []
    phases = select(run_phases).where(run_phases.c.adw_id.in_(adw_ids))
    agents = select(run_agents).where(run_agents.c.adw_id.in_(adw_ids))
    return (
        [dict(r._mapping) for r in connection.execute(phases.order_by(run_phases.c.started_ms))],
        [dict(r._mapping) for r in connection.execute(agents.order_by(run_agents.c.ended_ms))],
    )


def daily_rows(first_day: int) -> list[Select[Any]]:
    """The rollup from `first_day` on: per day for outcomes and cost, summed over the range
    for classes and phase buckets (which the summary shows for the range as a whole), so
    the summary reads a few hundred rows whatever the range or the number of runs."""
    d = history_daily.c
    in_range = d.day >= first_day
    per_day = select(d.day, d.kind, d.a, d.b, d["count"], d.total).where(
        in_range, d.kind.in_(("outcome", "cost"))
    )
    whole = (
        select(
            literal(first_day).label("day"),
            d.kind,
            d.a,
            d.b,
            func.sum(d["count"]),
            func.sum(d.total),
        )
        .where(in_range, d.kind.in_(("class", "phase")))
        .group_by(d.kind, d.a, d.b)
    )
    return [per_day, whole]


def activity_since(minute: int) -> Select[Any]:
    return select(activity_minutes.c.minute, activity_minutes.c["count"]).where(
        activity_minutes.c.minute >= minute
    )
