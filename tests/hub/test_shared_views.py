"""One page per distinct view and change, shared by every tab on it, and the patch between."""

from __future__ import annotations

import json

from livewatch.hub.collection import Collection
from livewatch.hub.shared_views import SharedPages
from livewatch.hub.views import WorkflowQuery, page_patch


def record(adw_id: str, updated: str, issue: int = 1) -> dict:
    return {"adw_id": adw_id, "issue_number": issue, "updated_at": updated, "status": "idle"}


def collection(count: int) -> Collection:
    workflows = Collection("workflows", key=lambda r: r["adw_id"])
    workflows.replace(
        record(f"w{n:03d}", f"2026-01-01T00:{n % 60:02d}:{n // 60:02d}") for n in range(count)
    )
    return workflows


def test_each_view_is_computed_once_per_change_for_every_tab() -> None:
    workflows = collection(60)
    shared = SharedPages(workflows)
    default, by_id = WorkflowQuery(), WorkflowQuery(sort_by="adw_id", descending=False)
    pages = [shared.page(default) for _ in range(100)] + [shared.page(by_id) for _ in range(5)]
    assert shared.computed == 2
    assert all(p is pages[0] for p in pages[:100])

    workflows.apply([record("w005", "2026-02-01T00:00:00", issue=77)])
    after = shared.page(default)
    assert shared.computed == 3 and after is not pages[0]
    assert after.rows[0]["adw_id"] == "w005"


def test_a_patch_carries_the_order_and_only_the_rows_that_differ() -> None:
    workflows = collection(60)
    shared = SharedPages(workflows)
    before = shared.page(WorkflowQuery())
    workflows.apply([record("w007", "2026-02-01T00:00:00", issue=77)])
    after = shared.page(WorkflowQuery())
    encoded = shared.patch_json(before, after)
    assert encoded is not None and shared.patch_json(before, after) is encoded  # shared
    patch = json.loads(encoded)
    assert patch["ids"] == [r["adw_id"] for r in after.rows]
    assert list(patch["rows"]) == ["w007"]  # the moved row; the others are the tab's already
    assert patch["pagination"]["rowsNumber"] == 60
    assert len(encoded) < 1500


def test_a_change_off_the_page_needs_no_patch() -> None:
    workflows = collection(60)
    query = WorkflowQuery(sort_by="adw_id", descending=False)
    shared = SharedPages(workflows)
    before = shared.page(query)
    workflows.apply([record("w059", "2026-02-01T00:00:00", issue=5)])
    assert page_patch(before, shared.page(query)) is None
