"""Many agent hosts' records as one list, computed the same way on every replica.

Each host publishes its workflows under their own adw ids. An id that only one host has is
shown as it is; an id that two or more hosts have is shown once per host as `<adw_id>@<host>`
(`@` can't occur in an adw id, so the two forms never clash). Every record carries its `host`,
and `stale` is true while that host's heartbeat is missing. The view is a pure function of
the records and the stale hosts, so replicas that applied the same stream entries, or loaded
the same snapshot, hold the very same records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]
HOST_SEPARATOR = "@"


def namespaced(adw_id: str, host: str) -> str:
    return f"{adw_id}{HOST_SEPARATOR}{host}"


@dataclass(frozen=True)
class ViewChange:
    """What one host's update did to the merged list, ready for `Collection.apply`."""

    upsert: list[Record]
    remove: list[str]


class HostMerge:
    """The records of every host, and the merged view of them the dashboard shows."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Record]] = {}  # host -> adw_id -> record
        self._owners: defaultdict[str, set[str]] = defaultdict(set)  # adw_id -> hosts
        self.stale: set[str] = set()

    @property
    def hosts(self) -> list[str]:
        return sorted(self._records)

    def load(self, records: Mapping[str, Iterable[Record]], stale: Iterable[str]) -> list[Record]:
        """Start over from a snapshot (host -> its records); returns the whole view."""
        self._records.clear()
        self._owners.clear()
        self.stale = set(stale)
        for host, host_records in records.items():
            self._records[host] = {}
            for record in host_records:
                self._put(host, record)
        return list(self._view_of(self._owners).values())

    def apply(
        self,
        host: str,
        upsert: Iterable[Record] = (),
        remove: Iterable[str] = (),
        *,
        stale: bool | None = None,
    ) -> ViewChange:
        """One host's update (and whether it is now stale); returns what changed in the view."""
        upsert = list(upsert)
        touched = {str(r["adw_id"]) for r in upsert} | set(remove)
        if stale is not None and (host in self.stale) != stale:
            touched |= set(self._records.get(host, ()))  # the flag is on every record it has
        before = self._view_of(touched)
        self._records.setdefault(host, {})
        for record in upsert:
            self._put(host, record)
        for adw_id in remove:
            self._drop(host, adw_id)
        if stale is True:
            self.stale.add(host)
        elif stale is False:
            self.stale.discard(host)
        after = self._view_of(touched)
        return ViewChange(
            upsert=[r for key, r in after.items() if before.get(key) != r],
            remove=sorted(key for key in before if key not in after),
        )

    def _put(self, host: str, record: Record) -> None:
        adw_id = str(record["adw_id"])
        self._records[host][adw_id] = record
        self._owners[adw_id].add(host)

    def _drop(self, host: str, adw_id: str) -> None:
        if self._records.get(host, {}).pop(adw_id, None) is None:
            return
        owners = self._owners[adw_id]
        owners.discard(host)
        if not owners:
            del self._owners[adw_id]

    def _view_of(self, adw_ids: Iterable[str]) -> dict[str, Record]:
        """The view's records (keyed by their shown id) for these adw ids, across all hosts."""
        view: dict[str, Record] = {}
        for adw_id in adw_ids:
            owners = self._owners.get(adw_id, ())
            for host in owners:
                shown = adw_id if len(owners) == 1 else namespaced(adw_id, host)
                record = self._records[host][adw_id]
                view[shown] = {**record, "adw_id": shown, "host": host, "stale": host in self.stale}
        return view
