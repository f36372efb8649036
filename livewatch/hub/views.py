"""What the pages show, as pure functions: search, filters, sort, pages, labels and colours.

The pages only compose elements; every decision about which records appear, in what order
and with what text lives here, where it is cheap to test. Nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, get_args

from livewatch.hub.records import PHASES, Status

Record = dict[str, Any]

ALL = "all"  # the filter value that lets everything through
ALL_METHODS = "All Methods"
STATUSES: tuple[str, ...] = get_args(Status)
PAGE_SIZES: tuple[int, ...] = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25

# Quasar colour names, so a badge is just `<q-badge :color=...>`.
STATUS_COLORS: dict[str, str] = {
    "running": "blue",
    "completed": "green",
    "failed": "red",
    "idle": "grey",
    "error": "deep-orange",
    "stalled": "orange",
}
METHOD_COLORS: dict[str, str] = {
    "GET": "blue",
    "POST": "green",
    "PUT": "yellow",
    "DELETE": "red",
    "PATCH": "purple",
}
OTHER_COLOR = "grey"
# Known methods come first in this order; any others follow alphabetically.
METHOD_ORDER: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")

# One character per phase step keeps a row small: done, current, pending.
STEP_CODES = {"done": "d", "current": "c", "pending": "p"}


def status_color(status: str | None) -> str:
    return STATUS_COLORS.get(status or "", OTHER_COLOR)


def method_color(method: str) -> str:
    return METHOD_COLORS.get(method.upper(), OTHER_COLOR)


# --- time ----------------------------------------------------------------------------------


def relative_time(seconds: float) -> str:
    """An age as the header shows it: "Just now", "Xs ago", "Xm ago" or "Xh ago".

    A negative age (a clock a little ahead of ours) reads as "Just now". The browser ticks
    the same rule in JavaScript (see pages/layout.py), so keep the two in step.
    """
    if not math.isfinite(seconds) or seconds < 5:
        return "Just now"
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    return f"{int(seconds // 3600)}h ago"


def epoch_ms(iso: str | None) -> int | None:
    """An ISO 8601 timestamp as epoch milliseconds (naive means UTC), or None if unusable."""
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# --- workflows -----------------------------------------------------------------------------


def phase_steps(phase: str | None, status: str | None) -> list[str]:
    """The six steps plan → ship as "done" / "current" / "pending", as the seed's card shows.

    Steps before the current phase are done; the current one too once the run completed.
    """
    current = PHASES.index(phase) if phase in PHASES else 0
    steps = []
    for index in range(len(PHASES)):
        if index < current or (index == current and status == "completed"):
            steps.append("done")
        elif index == current:
            steps.append("current")
        else:
            steps.append("pending")
    return steps


def matches_search(record: Record, text: str) -> bool:
    """Case-insensitive substring match on the id, the issue number (`#42` or `42`) and branch."""
    needle = text.strip().lower()
    if not needle:
        return True
    if needle in str(record.get("adw_id") or "").lower():
        return True
    if needle in str(record.get("branch_name") or "").lower():
        return True
    number = record.get("issue_number")
    digits = needle.removeprefix("#")
    return number is not None and bool(digits) and digits in str(number)


def by_id(record: Record) -> str:
    """The id a record sorts by, and what breaks every tie of the other columns."""
    return record.get("adw_id") or ""


# The sortable columns, each with the record value it sorts by.
SORT_KEYS: dict[str, Callable[[Record], Any]] = {
    "adw_id": by_id,
    "issue": lambda r: r.get("issue_number"),
    "issue_class": lambda r: r.get("issue_class"),
    "phase": lambda r: PHASES.index(r["phase"]) if r.get("phase") in PHASES else None,
    "status": lambda r: r.get("status"),
    "cost": lambda r: r.get("cost_usd"),
    "updated": lambda r: r.get("updated_at"),
}
DEFAULT_SORT = "updated"


@dataclass(frozen=True)
class WorkflowQuery:
    """Everything the user chose on the dashboard: search, filters, sort and page."""

    search: str = ""
    status: str = ALL
    phase: str = ALL
    sort_by: str = DEFAULT_SORT
    descending: bool = True
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE

    def with_(self, **changes: Any) -> WorkflowQuery:
        return replace(self, **changes)

    @property
    def unfiltered(self) -> bool:
        return self.status == ALL and self.phase == ALL and not self.search.strip()


def filter_workflows(records: Iterable[Record], query: WorkflowQuery) -> list[Record]:
    if query.unfiltered:
        return list(records)  # the default view, on every change: no test per record
    return [
        r
        for r in records
        if (query.status == ALL or r.get("status") == query.status)
        and (query.phase == ALL or r.get("phase") == query.phase)
        and matches_search(r, query.search)
    ]


def sort_records(
    records: Sequence[Record],
    key: Callable[[Record], Any],
    *,
    descending: bool = False,
    tiebreak: Callable[[Record], Any] = by_id,
) -> list[Record]:
    """Sort by `key`; records without a value go last either way; ties keep a stable order."""
    present = [r for r in records if key(r) is not None]
    missing = [r for r in records if key(r) is None]
    # Two stable passes: the tiebreak first (always ascending), then the key.
    present.sort(key=tiebreak)
    present.sort(key=key, reverse=descending)
    missing.sort(key=tiebreak)
    return present + missing


@dataclass(frozen=True)
class Page:
    """One page of a list: its items, where it sits, and how many there are in all."""

    items: list[Any]
    page: int
    pages: int
    total: int


def paginate(items: Sequence[Any], page: int, per_page: int) -> Page:
    """The `page`-th slice (1-based), with `page` clamped into range so a page never dangles."""
    per_page = max(1, per_page)
    pages = max(1, math.ceil(len(items) / per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    return Page(list(items[start : start + per_page]), page, pages, len(items))


def workflow_row(record: Record) -> Record:
    """What one table row needs, and no more: every byte here goes to the browser per change.

    Empty fields are left out (the row template treats a missing field as empty).
    """
    number = record.get("issue_number")
    row = {
        "adw_id": record["adw_id"],
        "issue": f"#{number}" if number is not None else None,
        "url": record.get("github_url"),
        "issue_class": record.get("issue_class"),
        "phase": record.get("phase") or "plan",
        "steps": step_codes(record.get("phase"), record.get("status")),
        "status": record.get("status") or "idle",
        "cost": format_cost(record.get("cost_usd")),
        "ts": epoch_ms(record.get("updated_at")),
        "error": record.get("error"),
        "tokens": format_tokens(record.get("tokens")),
        **now_cells(record.get("now")),
    }
    return {key: value for key, value in row.items() if value}


def now_cells(now: dict[str, Any] | None) -> dict[str, Any]:
    """The "Now" cell of a running workflow: which agent, and its latest action."""
    if not now:
        return {}
    tool, summary = now.get("tool"), now.get("summary") or ""
    action = f"{tool} {summary}".strip() if tool else summary or now.get("kind", "")
    return {
        "now_agent": now.get("agent"),
        "now_tool": tool,
        "now_kind": now.get("kind"),
        "now_text": action,
        "now_ts": now.get("ts"),
    }


def format_tokens(tokens: dict[str, int] | None) -> str:
    """`12.3k in · 4.1k out`, or "" when no agent has reported any yet."""
    if not tokens or not (tokens.get("in") or tokens.get("out")):
        return ""
    return f"{compact_number(tokens.get('in', 0))} in · {compact_number(tokens.get('out', 0))} out"


def compact_number(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def step_codes(phase: str | None, status: str | None) -> str:
    """`phase_steps` as one letter per step, e.g. "ddcppp" for the test phase."""
    return "".join(STEP_CODES[step] for step in phase_steps(phase, status))


def format_cost(cost: float | None) -> str:
    return "" if cost is None else f"${cost:,.2f}"


@dataclass(frozen=True)
class WorkflowsPage:
    """The dashboard's table, ready to render: one page of rows and the counts around it."""

    rows: list[Record]
    page: int
    pages: int
    matching: int
    total: int
    query: WorkflowQuery = field(default_factory=WorkflowQuery)

    @property
    def count_text(self) -> str:
        return f"Showing {self.matching} of {self.total} workflows"


def sort_key(query: WorkflowQuery) -> Callable[[Record], Any]:
    return SORT_KEYS.get(query.sort_by, SORT_KEYS[DEFAULT_SORT])


def workflows_page(
    records: Sequence[Record], query: WorkflowQuery, *, presorted: bool = False
) -> WorkflowsPage:
    """Search, filter, sort and cut one page: the dashboard's whole query, server-side.

    `presorted`: the records already come in the query's order (a `SortedIndex`), so only
    the page is read when nothing is filtered.
    """
    if presorted:
        ordered = records if query.unfiltered else filter_workflows(records, query)
    else:
        chosen = filter_workflows(records, query)
        ordered = sort_records(chosen, sort_key(query), descending=query.descending)
    page = paginate(ordered, query.page, query.per_page)
    return WorkflowsPage(
        rows=[workflow_row(r) for r in page.items],
        page=page.page,
        pages=page.pages,
        matching=page.total,
        total=len(records),
        query=query.with_(page=page.page),
    )


def heading(total: int) -> str:
    return f"Active Workflows ({total})"


# --- routes --------------------------------------------------------------------------------


def method_options(routes: Iterable[Record]) -> list[str]:
    """ "All Methods", then each method present: the usual five in REST order, then the rest."""
    present = {str(r.get("method", "")).upper() for r in routes} - {""}
    known = [m for m in METHOD_ORDER if m in present]
    return [ALL_METHODS, *known, *sorted(present - set(METHOD_ORDER))]


def filter_routes(routes: Iterable[Record], search: str = "", method: str = ALL_METHODS) -> list:
    """Routes whose path, handler or description contains `search`, of the chosen method."""
    needle = search.strip().lower()
    chosen = []
    for route in routes:
        if method not in (ALL_METHODS, "", None) and route.get("method") != method:
            continue
        text = " ".join(str(route.get(k) or "") for k in ("path", "handler", "description"))
        if needle and needle not in text.lower():
            continue
        chosen.append(route)
    return chosen


def sort_routes(routes: Iterable[Record]) -> list[Record]:
    """By path, then the usual method order (GET before POST ...), then any other method."""

    def key(route: Record) -> tuple[str, int, str]:
        method = str(route.get("method", ""))
        rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
        return (str(route.get("path", "")), rank, method)

    return sorted(routes, key=key)


def routes_count_text(shown: int, total: int) -> str:
    return f"Showing {shown} of {total} routes"


def route_row(route: Record) -> Record:
    return {
        "key": f"{route['method']} {route['path']}",
        "method": route["method"],
        "path": route["path"],
        "handler": route.get("handler") or "",
        "description": route.get("description") or "",
    }


# --- detail --------------------------------------------------------------------------------


def format_duration(ms: float | None) -> str:
    """Milliseconds as "850ms", "42.0s" or "3m 05s"."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest:02d}s"


def state_items(state: dict[str, Any]) -> list[tuple[str, str]]:
    """Every state field as (key, text), in file order; lists and objects as compact JSON."""
    items = []
    for key, value in state.items():
        if isinstance(value, str):
            text = value
        elif value is None:
            text = "null"
        else:
            text = json.dumps(value, ensure_ascii=False)
        items.append((key, text))
    return items


# --- activity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityChart:
    """The dashboard's activity chart: one bar per minute, oldest first, and their sum."""

    labels: tuple[str, ...]  # "HH:MM" of each minute's start
    counts: tuple[int, ...]
    end: int = 0  # the newest minute's start, epoch seconds

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def total_text(self) -> str:
        return activity_total_text(self.total)


def activity_chart(series: Iterable[tuple[int, int]], tz: tzinfo | None = None) -> ActivityChart:
    """`Activity.series()` as chart data, the minutes labelled in `tz` (None: the server's)."""
    pairs = list(series)
    return ActivityChart(
        labels=tuple(minute_label(start, tz) for start, _ in pairs),
        counts=tuple(count for _, count in pairs),
        end=pairs[-1][0] if pairs else 0,
    )


def slid(counts: Sequence[int], steps: int) -> tuple[int, ...]:
    """`counts` moved `steps` buckets to the left, empty ones coming in on the right.

    What a browser's bar chart shows by itself as time passes (`lwSlide` in the pages'
    script): a server whose new counts are just these sends nothing.
    """
    kept = tuple(counts[steps:]) if steps > 0 else tuple(counts)
    return kept + (0,) * (len(counts) - len(kept))


def minute_label(epoch_s: float, tz: tzinfo | None = None) -> str:
    """A minute's start as "HH:MM" in `tz`; None means the server's local time."""
    return datetime.fromtimestamp(epoch_s, tz).strftime("%H:%M")


def activity_total_text(total: int) -> str:
    return f"{total:,} change{'' if total == 1 else 's'} in the last hour"


# --- broker --------------------------------------------------------------------------------

# What the header says about a replica's link to Redis; states not listed show nothing.
BROKER_NOTICES: dict[str, str] = {"degraded": "Degraded: Redis unreachable"}


def broker_notice(state: str | None) -> str | None:
    """The header chip's text for a broker state, or None when all is well (or no broker)."""
    return BROKER_NOTICES.get(state or "")


# --- sharing one page among tabs -----------------------------------------------------------


def pagination(page: WorkflowsPage) -> Record:
    """Quasar's server-side pagination for `page`: where it is, how it sorts, how many match."""
    return {
        "sortBy": page.query.sort_by,
        "descending": page.query.descending,
        "page": page.page,
        "rowsPerPage": page.query.per_page,
        "rowsNumber": page.matching,
    }


def page_patch(before: WorkflowsPage, after: WorkflowsPage) -> Record | None:
    """What turns the rows a tab shows into `after`'s: the ids in order and only the rows
    that are new or differ. None when the table looks the same (a change off the page)."""
    if (before.rows, before.query, before.matching) == (after.rows, after.query, after.matching):
        return None
    shown = {row["adw_id"]: row for row in before.rows}
    return {
        "ids": [row["adw_id"] for row in after.rows],
        "rows": {row["adw_id"]: row for row in after.rows if shown.get(row["adw_id"]) != row},
        "pagination": pagination(after),
    }
