"""Run history over REST: `/api/history/runs`, `/api/history/summary`, `/api/history/runs.csv`.

Thin: the store pages, filters and aggregates; this module checks parameters (a clear 422
for anything wrong) and shapes the answers. Queries run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response

from livewatch import runtime
from livewatch.hub.records import PHASES
from livewatch.store.events import StoreError
from livewatch.store.history import HistoryStore

router = APIRouter()

Outcome = Literal["completed", "failed", "stalled", "running"]
Sort = Literal["newest", "slowest", "costliest"]
MAX_DAYS = 366
CSV_COLUMNS = (
    *("adw_id", "outcome", "status", "host", "issue_number", "issue_class", "model_set"),
    *("started_at", "ended_at", "duration_ms", "cost_usd", "tokens_in", "tokens_out"),
)
# A spreadsheet runs a cell that starts with one of these as a formula: quote it.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _history() -> HistoryStore:
    history = runtime.current().history
    if history is None:
        raise HTTPException(503, "the history database is not open")
    return history.store


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # a time without a zone is UTC, like the API's own
    return int(value.timestamp() * 1000)


def _range(start: datetime | None, end: datetime | None) -> tuple[int | None, int | None]:
    from_ms, to_ms = _ms(start), _ms(end)
    if from_ms is not None and to_ms is not None and from_ms >= to_ms:
        raise HTTPException(422, "`from` must be before `to`")
    return from_ms, to_ms


async def _read(call: Any, /, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(call, **kwargs)
    except StoreError as error:
        raise HTTPException(503, f"the history database cannot be read: {error}") from error


From = Annotated[
    datetime | None,
    Query(alias="from", description="runs first seen at or after this (ISO 8601 or epoch s)"),
]
To = Annotated[datetime | None, Query(alias="to", description="runs first seen before this")]
Status = Annotated[Outcome | None, Query(description="only runs with this outcome")]
IssueClass = Annotated[str | None, Query(max_length=200, description="only this issue class")]
SortBy = Annotated[Sort, Query(description="newest, slowest or costliest first")]


@router.get("/api/history/runs", tags=["history"])
async def list_runs(
    start: From = None,
    end: To = None,
    status: Status = None,
    issue_class: IssueClass = None,
    sort: SortBy = "newest",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=1000, description="next_cursor")] = None,
) -> JSONResponse:
    """Runs with their phases and agents, newest (or slowest, costliest) first; page on with
    `cursor` = the previous page's `next_cursor` (null on the last page)."""
    from_ms, to_ms = _range(start, end)
    store = _history()
    try:
        page = await _read(
            store.runs,
            from_ms=from_ms,
            to_ms=to_ms,
            outcome=status,
            issue_class=issue_class,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    except ValueError as error:  # a cursor we never gave out
        raise HTTPException(422, str(error)) from error
    return JSONResponse(page)


@router.get("/api/history/summary", tags=["history"])
async def summary(days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30) -> JSONResponse:
    """Per day: runs per outcome, cost per model set; phase p50/p95; success per issue class."""
    return JSONResponse(await _read(_history().summary, days=days))


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(runs: list[dict[str, Any]]) -> str:
    """Runs as CSV: one line each, with each phase's duration in its own column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, *(f"{phase}_ms" for phase in PHASES)])
    for run in runs:
        phases = {p["phase"]: p["duration_ms"] for p in run["phases"]}
        writer.writerow(
            [_cell(run[name]) for name in CSV_COLUMNS] + [phases.get(phase) for phase in PHASES]
        )
    return out.getvalue()


@router.get("/api/history/runs.csv", tags=["history"])
async def export_runs(
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="the last N days")] = 30,
    start: From = None,
    end: To = None,
    status: Status = None,
    issue_class: IssueClass = None,
    sort: SortBy = "newest",
) -> Response:
    """Every run in the range as a CSV download (`from`/`to` win over `days`)."""
    from_ms, to_ms = _range(start, end)
    if from_ms is None:
        from_ms = int((time.time() - days * 86_400) * 1000)
    store = _history()

    def build() -> str:
        filters = {"from_ms": from_ms, "to_ms": to_ms, "outcome": status}
        return to_csv(list(store.all_runs(**filters, issue_class=issue_class, sort=sort)))

    body = await _read(build)
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="livewatch-runs-{stamp}.csv"'},
    )
