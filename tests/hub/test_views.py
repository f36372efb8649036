"""`livewatch.hub.views`: what the pages show, decided without a browser."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livewatch.hub import views
from livewatch.hub.views import WorkflowQuery


def wf(adw_id: str, **fields: Any) -> dict[str, Any]:
    """A workflow record as the hub holds it, with the fields a test cares about."""
    return {
        "adw_id": adw_id,
        "issue_number": None,
        "phase": "plan",
        "github_url": None,
        "status": "idle",
        "issue_class": None,
        "branch_name": None,
        "cost_usd": None,
        "updated_at": None,
        "error": None,
        **fields,
    }


RECORDS = [
    wf("a1f3c9e2", issue_number=101, branch_name="feature-issue-101-add-csv-export",
       status="running", phase="plan", cost_usd=0.39, updated_at="2026-11-16T09:15:55+00:00"),
    wf("93f0b47e", issue_number=127, branch_name="bug-issue-127-null-avatar-crash",
       status="failed", phase="test", cost_usd=3.41, updated_at="2026-11-22T17:00:16+00:00"),
    wf("e5c1a8d2", issue_number=122, branch_name="feature-issue-122-webhook-retries",
       status="completed", phase="ship", cost_usd=2.72, updated_at="2026-11-20T11:00:00+00:00"),
    wf("2c6e8d51", status="error", phase="build", error="adw_state.json is not valid JSON"),
]  # fmt: skip


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["adw_id"] for r in records]


# --- relative time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "Just now"),
        (4.99, "Just now"),
        (-30, "Just now"),  # a clock slightly ahead of ours
        (5, "5s ago"),
        (59.9, "59s ago"),
        (60, "1m ago"),
        (3599, "59m ago"),
        (3600, "1h ago"),
        (50 * 3600, "50h ago"),
        (float("nan"), "Just now"),
    ],
)
def test_relative_time(seconds: float, text: str) -> None:
    assert views.relative_time(seconds) == text


@given(st.floats(min_value=0, max_value=1e7))
def test_relative_time_has_one_of_four_shapes(seconds: float) -> None:
    text = views.relative_time(seconds)
    assert text == "Just now" or text.endswith(("s ago", "m ago", "h ago"))
    if text != "Just now":
        assert int(text.split(maxsplit=1)[0][:-1]) >= 1


def test_epoch_ms_reads_iso_timestamps_and_treats_naive_ones_as_utc() -> None:
    assert views.epoch_ms("1970-01-01T00:00:01+00:00") == 1000
    assert views.epoch_ms("1970-01-01T00:00:01") == 1000
    assert views.epoch_ms("1970-01-01T01:00:01+01:00") == 1000
    assert views.epoch_ms(None) is None
    assert views.epoch_ms("yesterday") is None


# --- search and filters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["a1f3c9e2", "93f0b47e", "e5c1a8d2", "2c6e8d51"]),
        ("93F0", ["93f0b47e"]),  # the id, any case
        ("#127", ["93f0b47e"]),  # the issue number, with or without #
        ("12", ["93f0b47e", "e5c1a8d2"]),  # 127 and 122
        ("webhook", ["e5c1a8d2"]),  # the branch
        ("  csv-export ", ["a1f3c9e2"]),
        ("nothing-like-it", []),
    ],
)
def test_search_matches_id_issue_number_and_branch(text: str, expected: list[str]) -> None:
    found = views.filter_workflows(RECORDS, WorkflowQuery(search=text))
    assert ids(found) == expected


def test_status_and_phase_filters_combine_with_search() -> None:
    assert ids(views.filter_workflows(RECORDS, WorkflowQuery(status="failed"))) == ["93f0b47e"]
    assert ids(views.filter_workflows(RECORDS, WorkflowQuery(phase="build"))) == ["2c6e8d51"]
    both = WorkflowQuery(status="running", phase="plan", search="101")
    assert ids(views.filter_workflows(RECORDS, both)) == ["a1f3c9e2"]
    assert views.filter_workflows(RECORDS, WorkflowQuery(status="running", phase="ship")) == []


# --- sort and pages -----------------------------------------------------------------------


def test_sort_by_each_column_puts_missing_values_last_both_ways() -> None:
    def order(column: str, descending: bool) -> list[str]:
        return ids(views.sort_records(RECORDS, views.SORT_KEYS[column], descending=descending))

    assert order("issue", False) == ["a1f3c9e2", "e5c1a8d2", "93f0b47e", "2c6e8d51"]
    assert order("issue", True) == ["93f0b47e", "e5c1a8d2", "a1f3c9e2", "2c6e8d51"]
    assert order("cost", True) == ["93f0b47e", "e5c1a8d2", "a1f3c9e2", "2c6e8d51"]
    assert order("updated", True) == ["93f0b47e", "e5c1a8d2", "a1f3c9e2", "2c6e8d51"]
    assert order("phase", False) == ["a1f3c9e2", "2c6e8d51", "93f0b47e", "e5c1a8d2"]  # plan → ship
    assert order("adw_id", False) == sorted(ids(RECORDS))


def test_ties_keep_a_stable_order_by_id() -> None:
    same = [wf(f"w{n}", cost_usd=1.0) for n in (3, 1, 2)]
    assert ids(views.sort_records(same, views.SORT_KEYS["cost"], descending=True)) == [
        "w1",
        "w2",
        "w3",
    ]


@pytest.mark.parametrize(
    ("page", "expected_page", "expected_items"),
    [(1, 1, [0, 1, 2]), (2, 2, [3, 4, 5]), (4, 4, [9]), (9, 4, [9]), (0, 1, [0, 1, 2])],
)
def test_paginate_clamps_the_page_into_range(
    page: int, expected_page: int, expected_items: list[int]
) -> None:
    cut = views.paginate(list(range(10)), page, 3)
    assert (cut.page, cut.pages, cut.total, cut.items) == (expected_page, 4, 10, expected_items)


def test_paginate_an_empty_list_is_one_empty_page() -> None:
    assert views.paginate([], 3, 25) == views.Page([], 1, 1, 0)


@given(st.integers(0, 300), st.integers(-5, 50), st.integers(1, 100))
def test_pages_cover_every_item_exactly_once(count: int, page: int, per_page: int) -> None:
    items = list(range(count))
    cut = views.paginate(items, page, per_page)
    assert 1 <= cut.page <= cut.pages
    every = [i for p in range(1, cut.pages + 1) for i in views.paginate(items, p, per_page).items]
    assert every == items


def test_workflows_page_is_one_page_of_small_rows_with_counts() -> None:
    many = [wf(f"w{n:05d}", issue_number=n, status="running") for n in range(1000)]
    query = WorkflowQuery(search="w001", sort_by="issue", descending=False, page=2, per_page=25)
    page = views.workflows_page(many, query)
    assert (page.matching, page.total, page.page, page.pages) == (100, 1000, 2, 4)
    assert [r["adw_id"] for r in page.rows] == [f"w{n:05d}" for n in range(125, 150)]
    assert page.count_text == "Showing 100 of 1000 workflows"
    assert views.heading(page.total) == "Active Workflows (1000)"


def test_a_row_carries_display_values_and_omits_empty_ones() -> None:
    failed = views.workflow_row(
        {**RECORDS[1], "github_url": "https://github.com/acme/shop/issues/127"}
    )
    assert failed["issue"] == "#127"
    assert failed["url"] == "https://github.com/acme/shop/issues/127"
    assert failed["cost"] == "$3.41"
    assert failed["steps"] == "ddcppp"
    assert failed["ts"] == views.epoch_ms("2026-11-22T17:00:16+00:00")
    broken = views.workflow_row(RECORDS[3])
    assert broken["error"] == "adw_state.json is not valid JSON"
    assert {"issue", "url", "cost", "ts"}.isdisjoint(broken)


# --- phases and colours -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "status", "codes"),
    [
        ("plan", "running", "cppppp"),
        ("test", "failed", "ddcppp"),
        ("ship", "running", "dddddc"),
        ("ship", "completed", "dddddd"),
        ("nonsense", "idle", "cppppp"),
    ],
)
def test_phase_steps_as_the_seeds_card_shows_them(phase: str, status: str, codes: str) -> None:
    assert views.step_codes(phase, status) == codes


def test_badge_colours() -> None:
    assert views.status_color("running") == "blue"
    assert views.status_color("completed") == "green"
    assert views.status_color("failed") == "red"
    assert views.status_color("mystery") == "grey"
    assert [views.method_color(m) for m in ("GET", "post", "PUT", "DELETE", "PATCH", "WS")] == [
        "blue",
        "green",
        "yellow",
        "red",
        "purple",
        "grey",
    ]


# --- routes -------------------------------------------------------------------------------

ROUTES = [
    {"method": "GET", "path": "/api/workflows", "handler": "list_workflows",
     "description": "All workflows: the REST fallback"},
    {"method": "DELETE", "path": "/api/{path:path}", "handler": "unknown_api",
     "description": "Unknown API paths get JSON"},
    {"method": "WS", "path": "/ws/workflows", "handler": "workflows_socket", "description": ""},
    {"method": "POST", "path": "/api/{path:path}", "handler": "unknown_api",
     "description": "Unknown API paths get JSON"},
    {"method": "GET", "path": "/api/{path:path}", "handler": "unknown_api",
     "description": "Unknown API paths get JSON"},
]  # fmt: skip


def test_method_options_list_the_methods_present_in_rest_order() -> None:
    assert views.method_options(ROUTES) == ["All Methods", "GET", "POST", "DELETE", "WS"]
    assert views.method_options([]) == ["All Methods"]


@pytest.mark.parametrize(
    ("search", "method", "shown"),
    [
        ("", "All Methods", 5),
        ("WORKFLOWS", "All Methods", 2),  # path and handler, any case
        ("rest fallback", "All Methods", 1),  # description
        ("", "GET", 2),
        ("unknown", "POST", 1),
        ("", "PUT", 0),
    ],
)
def test_filter_routes(search: str, method: str, shown: int) -> None:
    found = views.filter_routes(ROUTES, search, method)
    assert len(found) == shown
    assert method == "All Methods" or all(r["method"] == method for r in found)
    assert views.routes_count_text(len(found), len(ROUTES)) == f"Showing {shown} of 5 routes"


def test_routes_sort_by_path_then_rest_method_order() -> None:
    ordered = [(r["path"], r["method"]) for r in views.sort_routes(ROUTES)]
    assert ordered == [
        ("/api/workflows", "GET"),
        ("/api/{path:path}", "GET"),
        ("/api/{path:path}", "POST"),
        ("/api/{path:path}", "DELETE"),
        ("/ws/workflows", "WS"),
    ]


# --- detail -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, ""), (850, "850ms"), (42_000, "42.0s"), (185_000, "3m 05s")],
)
def test_format_duration(ms: float | None, text: str) -> None:
    assert views.format_duration(ms) == text


def test_state_items_show_every_field_as_text() -> None:
    state = {"adw_id": "x", "backend_port": 9107, "all_adws": ["a", "b"], "gone": None}
    assert views.state_items(state) == [
        ("adw_id", "x"),
        ("backend_port", "9107"),
        ("all_adws", '["a", "b"]'),
        ("gone", "null"),
    ]


# --- activity -----------------------------------------------------------------------------

HOUR_START = 1_800_000_000 - 59 * 60  # the first of 60 minutes; 1,800,000,000 is 08:00 UTC


def test_counts_slide_left_with_empty_buckets_coming_in() -> None:
    assert views.slid((1, 2, 3, 4), 1) == (2, 3, 4, 0)
    assert views.slid((1, 2, 3, 4), 3) == (4, 0, 0, 0)
    assert views.slid((1, 2, 3, 4), 9) == (0, 0, 0, 0)  # a tab that was away a long time
    assert views.slid([1, 2], 0) == (1, 2)
    assert views.slid((1, 2), -1) == (1, 2)  # the clock went back: nothing moves


def test_a_chart_knows_its_newest_minute_so_a_page_can_tell_a_slide_from_news() -> None:
    series = [(60 * m, m % 3) for m in range(100, 160)]
    chart = views.activity_chart(series, UTC)
    assert chart.end == 60 * 159
    later = views.activity_chart([*series[2:], (60 * 160, 0), (60 * 161, 0)], UTC)
    assert later.counts == views.slid(chart.counts, (later.end - chart.end) // 60)
    news = views.activity_chart([*series[2:], (60 * 160, 0), (60 * 161, 4)], UTC)
    assert news.counts != views.slid(chart.counts, (news.end - chart.end) // 60)


def test_activity_chart_labels_each_minute_and_sums_the_hour() -> None:
    series = [(HOUR_START + 60 * n, n % 3) for n in range(60)]
    chart = views.activity_chart(series, UTC)
    assert len(chart.labels) == len(chart.counts) == 60
    assert chart.labels[0] == "07:01"
    assert chart.labels[-1] == "08:00"
    assert chart.counts[:4] == (0, 1, 2, 0)
    assert chart.total == 60
    assert chart.total_text == "60 changes in the last hour"


def test_minute_labels_follow_the_viewers_time_zone() -> None:
    assert views.minute_label(1_800_000_000, UTC) == "08:00"
    assert views.minute_label(1_800_000_000, timezone(timedelta(hours=-5))) == "03:00"
    assert views.minute_label(1_800_000_000, timezone(timedelta(minutes=330))) == "13:30"


def test_equal_series_make_equal_charts_so_a_page_can_skip_the_push() -> None:
    series = [(HOUR_START + 60 * n, 0) for n in range(60)]
    assert views.activity_chart(series, UTC) == views.activity_chart(list(series), UTC)
    later = [*series[1:], (HOUR_START + 3600, 0)]  # a minute on, nothing happened
    assert views.activity_chart(later, UTC) != views.activity_chart(series, UTC)


@pytest.mark.parametrize(
    ("total", "text"),
    [
        (0, "0 changes in the last hour"),
        (1, "1 change in the last hour"),
        (12_345, "12,345 changes in the last hour"),
    ],
)
def test_activity_total_text(total: int, text: str) -> None:
    assert views.activity_total_text(total) == text


# --- broker -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "notice"),
    [
        (None, None),  # local mode: no broker at all
        ("connecting", None),
        ("connected", None),
        ("degraded", "Degraded: Redis unreachable"),
    ],
)
def test_broker_notice_only_when_degraded(state: str | None, notice: str | None) -> None:
    assert views.broker_notice(state) == notice
