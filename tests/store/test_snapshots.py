"""The last known records: written in batches as the hub changes, read back at start-up,
and a damaged row or an unwritable table never gets in the way."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from livewatch.hub.collection import Collection
from livewatch.hub.records import Workflow, workflow_key
from livewatch.store import EventStore
from livewatch.store.schema import snapshots
from livewatch.store.snapshots import SnapshotStore


def workflow(adw_id: str, **fields: object) -> dict[str, object]:
    return Workflow(adw_id=adw_id, **fields).model_dump(mode="json")  # type: ignore[arg-type]


def kept(store: EventStore, source: str = "/agents", every_s: float = 0.05) -> SnapshotStore:
    return SnapshotStore(
        store.engine, source, key=workflow_key, check=Workflow.model_validate, every_s=every_s
    ).start()


def test_changes_are_kept_and_read_back_per_source(store: EventStore) -> None:
    hub = Collection("workflows", workflow_key)
    snapshots_here = kept(store)
    hub.observe(snapshots_here.observe)
    hub.apply([workflow("aaaa1111", issue_number=1), workflow("bbbb2222")])
    hub.apply([workflow("aaaa1111", issue_number=2)], ["bbbb2222"])
    hub.apply([workflow("cccc3333")])
    assert snapshots_here.flush_sync()
    snapshots_here.close()
    elsewhere = kept(store, "/other/agents")
    assert elsewhere.load() is None  # another agents dir has none
    elsewhere.save_all([workflow("dddd4444")])
    elsewhere.close()
    assert kept(store).load() == hub.records()


def test_a_whole_list_replaces_what_was_stored(store: EventStore) -> None:
    first = kept(store)
    first.save_all([workflow("aaaa1111"), workflow("bbbb2222")])
    first.close()
    second = kept(store)
    second.save_all([workflow("bbbb2222", issue_number=9)])
    second.close()
    assert kept(store).load() == [workflow("bbbb2222", issue_number=9)]


def test_unreadable_rows_are_skipped_then_deleted(store: EventStore, db: Path) -> None:
    good = kept(store)
    good.save_all([workflow("aaaa1111"), workflow("bbbb2222")])
    good.close()
    with sqlite3.connect(db) as connection:
        spoil = "UPDATE snapshots SET record = ? WHERE key = ?"
        connection.execute(spoil, ("{nope", "bbbb2222"))
        for key, record in [
            ("cccc3333", json.dumps(workflow("aaaa1111"))),  # another key's record
            ("dddd4444", json.dumps({**workflow("dddd4444"), "phase": 7})),  # a bad field
            ("eeee5555", "[1, 2]"),
        ]:
            connection.execute("INSERT INTO snapshots VALUES ('/agents', ?, ?)", (key, record))
    again = kept(store)
    assert again.load() == [workflow("aaaa1111")]
    assert again.flush_sync()  # the next write deletes them
    assert kept(store).load() == [workflow("aaaa1111")]
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT key FROM snapshots").fetchall() == [("aaaa1111",)]


def test_a_record_with_a_huge_number_is_read_back_whole(store: EventStore) -> None:
    # orjson, a faster parser than pydantic's, would turn this number into a float.
    huge = workflow("aaaa1111", issue_number=2**70 + 1)
    first = kept(store)
    first.save_all([huge, workflow("bbbb2222")])
    first.close()
    assert kept(store).load() == [huge, workflow("bbbb2222")]


def test_an_unwritable_table_keeps_the_changes_and_retries(store: EventStore) -> None:
    with store.engine.begin() as connection:
        snapshots.drop(connection)
    keeping = kept(store)
    assert keeping.load() is None  # no table: nothing to start from, no error
    keeping.save_all([workflow("aaaa1111")])
    assert not keeping.flush_sync(timeout=0.5)
    assert keeping.last_error is not None and "snapshots" in keeping.last_error
    with store.engine.begin() as connection:
        snapshots.create(connection)
    assert keeping.flush_sync(timeout=10)
    keeping.close()
    assert kept(store).load() == [workflow("aaaa1111")]
