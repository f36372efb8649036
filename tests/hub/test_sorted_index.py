"""A kept sort order: moved by each change, always the order a full sort gives."""

from __future__ import annotations

import random

import pytest

from livewatch.hub.collection import Collection
from livewatch.hub.shared_views import SharedPages
from livewatch.hub.sorted_index import SortedIndex
from livewatch.hub.views import SORT_KEYS, WorkflowQuery, sort_records, workflows_page


def workflows(history_size: int = 1000) -> Collection:
    return Collection("workflows", key=lambda r: r["adw_id"], history_size=history_size)


def random_record(rng: random.Random, adw_id: str) -> dict:
    # Few distinct values, and some missing: ties and the "no value" tail are what can go wrong.
    maybe = lambda values: rng.choice([*values, None])  # noqa: E731
    return {
        "adw_id": adw_id,
        "issue_number": maybe([1, 2, 3]),
        "issue_class": maybe(["/bug", "/chore", "/feature"]),
        "phase": maybe(["plan", "build", "test"]),
        "status": maybe(["running", "completed", "failed"]),
        "cost_usd": maybe([0.5, 1.25, 3.0]),
        "updated_at": maybe([f"2026-01-0{d}T00:00:00" for d in range(1, 5)]),
    }


def ids(records) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["adw_id"] for r in records]


@pytest.mark.parametrize("column", sorted(SORT_KEYS))
@pytest.mark.parametrize("descending", [False, True])
def test_the_kept_order_is_the_full_sorts_after_every_change(column: str, descending: bool) -> None:
    rng = random.Random(f"{column}{descending}")
    collection = workflows()
    collection.replace(random_record(rng, f"w{n:03d}") for n in range(60))
    index = SortedIndex(collection, SORT_KEYS[column], descending=descending)
    for _ in range(200):
        roll = rng.random()
        if roll < 0.7:  # a workflow changed, or a new one came
            collection.apply([random_record(rng, f"w{rng.randrange(80):03d}")])
        elif roll < 0.9:
            collection.apply(remove=[f"w{rng.randrange(80):03d}"])
        else:  # a batch, as the watcher applies them
            batch = [random_record(rng, f"w{rng.randrange(80):03d}") for _ in range(5)]
            collection.apply(batch, remove=[f"w{rng.randrange(80):03d}"])
        expected = sort_records(collection.records(), SORT_KEYS[column], descending=descending)
        assert ids(index.in_order()) == ids(expected)
    assert index.rebuilt == 1  # the first use; after that, only moves


def test_it_sorts_again_when_the_history_no_longer_reaches_back() -> None:
    rng = random.Random(7)
    collection = workflows(history_size=3)
    collection.replace(random_record(rng, f"w{n:02d}") for n in range(20))
    index = SortedIndex(collection, SORT_KEYS["updated"], descending=True)
    index.in_order()
    for n in range(5):  # more changes than the history keeps, unseen by the index
        collection.apply([random_record(rng, f"w{n:02d}") | {"updated_at": f"2027-0{n + 1}"}])
    assert ids(index.in_order())[:5] == ["w04", "w03", "w02", "w01", "w00"]
    assert index.rebuilt == 2


def test_a_page_from_the_kept_order_is_the_page_from_a_full_sort() -> None:
    rng = random.Random(3)
    collection = workflows()
    collection.replace(random_record(rng, f"w{n:03d}") for n in range(300))
    shared = SharedPages(collection)
    queries = [
        WorkflowQuery(),
        WorkflowQuery(page=3),
        WorkflowQuery(sort_by="cost", descending=False, page=2),
        WorkflowQuery(status="running"),
        WorkflowQuery(search="w01", sort_by="adw_id"),
    ]
    for _ in range(20):
        collection.apply([random_record(rng, f"w{rng.randrange(300):03d}")])
        for query in queries:
            assert shared.page(query) == workflows_page(collection.records(), query)


def test_values_that_do_not_compare_fall_back_to_the_full_sort() -> None:
    collection = workflows()
    collection.replace([{"adw_id": "a", "issue_number": 1}, {"adw_id": "b", "issue_number": 2}])
    shared = SharedPages(collection)
    query = WorkflowQuery(sort_by="issue")
    assert ids(shared.page(query).rows) == ["b", "a"]
    collection.apply([{"adw_id": "c", "issue_number": "x"}])  # a number beside a text
    with pytest.raises(TypeError):  # what the full sort has always said
        shared.page(query)
