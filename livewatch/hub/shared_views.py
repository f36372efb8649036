"""Each distinct view of the workflows computed once per change, not once per open tab.

A view is a search, filters, sort and page (a `WorkflowQuery`); most tabs show the default
one. Every tab asks here: the first to ask for a view at the collection's current `seq`
computes it, the others get the same `WorkflowsPage` object. Tabs that showed the same page
before also share the patch that takes them to the new one, encoded once as JSON.
"""

from __future__ import annotations

import json

from livewatch.hub.collection import Collection
from livewatch.hub.sorted_index import SortedIndex
from livewatch.hub.views import (
    WorkflowQuery,
    WorkflowsPage,
    page_patch,
    sort_key,
    workflows_page,
)

MAX_PATCHES = 256


class SharedPages:
    """The pages of the current state, one per distinct query, and the patches between."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._at: int | None = None
        self._pages: dict[WorkflowQuery, WorkflowsPage] = {}
        # Per query, the last patch made: (from, to, its JSON). Tabs of one view hold the same
        # `from` object, so an identity check finds the shared one.
        self._patches: dict[WorkflowQuery, tuple[WorkflowsPage, WorkflowsPage, str | None]] = {}
        self.computed = 0  # pages computed so far: what sharing saves is visible in tests
        # One kept order per sort (column, direction), moved by each change, not re-sorted.
        self._orders: dict[tuple[str, bool], SortedIndex] = {}

    def page(self, query: WorkflowQuery) -> WorkflowsPage:
        version = self.collection.seq
        if version != self._at:
            self._at, self._pages = version, {}
        page = self._pages.get(query)
        if page is None:
            page = self._pages[query] = self._compute(query)
            # The query may be clamped (a page past the end): keep it under both keys.
            self._pages.setdefault(page.query, page)
            self.computed += 1
        return page

    def _compute(self, query: WorkflowQuery) -> WorkflowsPage:
        order = (query.sort_by, query.descending)
        index = self._orders.get(order)
        if index is None:
            key = sort_key(query)
            index = self._orders[order] = SortedIndex(self.collection, key, descending=order[1])
        try:
            return workflows_page(index.in_order(), query, presorted=True)
        except TypeError:
            # Values of one column that don't compare (a number beside a text): the order
            # can't be kept; the full sort then says what it always said.
            del self._orders[order]
            return workflows_page(self.collection.records(), query)

    def last_change_ts(self) -> float | None:
        return self.collection.last_change_ts

    def patch_json(self, before: WorkflowsPage, after: WorkflowsPage) -> str | None:
        """`page_patch(before, after)` as compact JSON, or None when nothing on screen differs."""
        cached = self._patches.get(after.query)
        if cached is not None and cached[0] is before and cached[1] is after:
            return cached[2]
        patch = page_patch(before, after)
        text = None if patch is None else json.dumps(patch, separators=(",", ":"))
        if len(self._patches) >= MAX_PATCHES:  # every keystroke of a search is a query
            self._patches.clear()
        self._patches[after.query] = (before, after, text)
        return text
