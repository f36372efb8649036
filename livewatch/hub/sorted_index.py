"""A collection's records in one sort order, kept up to date by its changes.

At 10,000 workflows, sorting every record again for each change took about half of the
~40 ms of server CPU a change cost (`py-spy --gil`). A change moves a record: two binary
searches and a list insert. The order is the one `views.sort_records` gives: by the key
(ascending or descending), ties by `adw_id` ascending, records without a value last.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast, overload

from livewatch.hub.collection import Collection, Record
from livewatch.hub.views import by_id


class _Descending:
    """A value that sorts in reverse, so one ascending list serves both directions."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and bool(self.value == other.value)

    __hash__ = None  # type: ignore[assignment]


# (0 with a value | 1 without, the value, the tiebreak, the collection's key)
Position = tuple[int, Any, str, str]


class SortedIndex:
    """The order of `collection`'s records by `key`; `in_order()` brings it up to date."""

    def __init__(
        self, collection: Collection, key: Callable[[Record], Any], *, descending: bool
    ) -> None:
        self.collection = collection
        self.key = key
        self.descending = descending
        self._at: int | None = None
        self._positions: dict[str, Position] = {}
        self._order: list[Position] = []
        self.rebuilt = 0  # full sorts so far: the tests see when the changes were not enough

    def in_order(self) -> InOrder:
        """The records in order, as of the collection's current `seq`."""
        seq = self.collection.seq
        if self._at != seq:
            changes = None if self._at is None else self.collection.since(self._at)
            if changes is None:  # first use, or the history no longer reaches back
                self._rebuild()
            else:
                for change in changes:
                    for record in change.upsert:
                        self._move(record)
                    for gone in change.remove:
                        self._drop(gone)
            self._at = seq
        return InOrder(self._order, self.collection)

    def _position(self, record: Record) -> Position:
        value = self.key(record)
        tiebreak = by_id(record)  # as `sort_records` breaks ties
        key = self.collection.key(record)
        if value is None:
            return (1, 0, tiebreak, key)
        return (0, _Descending(value) if self.descending else value, tiebreak, key)

    def _rebuild(self) -> None:
        records = self.collection.records()
        self._positions = {self.collection.key(r): self._position(r) for r in records}
        self._order = sorted(self._positions.values())
        self.rebuilt += 1

    def _drop(self, key: str) -> None:
        old = self._positions.pop(key, None)
        if old is not None:
            del self._order[bisect.bisect_left(self._order, old)]

    def _move(self, record: Record) -> None:
        self._drop(self.collection.key(record))
        new = self._positions[self.collection.key(record)] = self._position(record)
        bisect.insort(self._order, new)


class InOrder(Sequence[Record]):
    """The records of an order, looked up as they are read: a page reads 25 of 10,000.

    A view of the index, not a copy: read it before the collection changes again.
    """

    def __init__(self, order: list[Position], collection: Collection) -> None:
        self._order = order
        self._collection = collection

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        get = self._collection.get
        if isinstance(index, slice):
            return [cast(Record, get(p[3])) for p in self._order[index]]
        return cast(Record, get(self._order[index][3]))

    def __iter__(self) -> Iterator[Record]:
        get = self._collection.get
        return (cast(Record, get(p[3])) for p in self._order)
