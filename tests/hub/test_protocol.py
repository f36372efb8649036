"""Wire messages: deltas applied to a snapshot always rebuild the server's state."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from livewatch.hub import protocol
from livewatch.hub.collection import Change, Collection
from livewatch.hub.records import workflow_key

IDS = st.sampled_from([f"w{i}" for i in range(8)])
# One file change: a workflow folder written with some phase, or removed.
FILE_CHANGE = st.tuples(IDS, st.one_of(st.none(), st.sampled_from(["plan", "build", "ship"])))
BATCH = st.lists(FILE_CHANGE, min_size=1, max_size=4)


def apply_batch(collection: Collection, batch: list[tuple[str, str | None]]) -> Change | None:
    upsert = [{"adw_id": i, "phase": p} for i, p in batch if p is not None]
    remove = [i for i, p in batch if p is None]
    return collection.apply(upsert, remove)


def client_apply(state: dict[str, dict], message: dict) -> None:
    for record in message["upsert"]:
        state[record["adw_id"]] = record
    for key in message["remove"]:
        state.pop(key, None)


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(BATCH, max_size=5), after=st.lists(BATCH, max_size=12), merge=st.integers(1, 4)
)
def test_deltas_on_a_snapshot_equal_the_server_state(
    before: list[list[tuple[str, str | None]]],
    after: list[list[tuple[str, str | None]]],
    merge: int,
) -> None:
    server = Collection("workflows", workflow_key)
    for batch in before:
        apply_batch(server, batch)
    snapshot = json.loads(protocol.snapshot_message(server))
    client = {r["adw_id"]: r for r in snapshot["data"]}

    changes = [c for c in (apply_batch(server, b) for b in after) if c is not None]
    # A lagging client gets several changes merged into one delta; merging must not lose any.
    for start in range(0, len(changes), merge):
        message = json.loads(protocol.delta_message(server, changes[start : start + merge]))
        assert message["seq"] == changes[min(start + merge, len(changes)) - 1].seq
        client_apply(client, message)

    assert sorted(client.values(), key=lambda r: r["adw_id"]) == server.records()


def test_the_seed_message_is_encoded_once_per_change() -> None:
    server = Collection("workflows", workflow_key)
    server.apply([{"adw_id": "a"}])
    first = protocol.seed_message(server)
    assert protocol.seed_message(server) is first
    server.apply([{"adw_id": "b"}])
    assert json.loads(protocol.seed_message(server)) == {
        "type": "workflows_update",
        "data": [{"adw_id": "a"}, {"adw_id": "b"}],
    }


@given(st.lists(IDS, unique=True, max_size=5))
def test_every_list_form_is_the_records_as_json(ids: list[str]) -> None:
    # The seed message is joined in one copy around the records: check 0, 1 and many.
    server = Collection(f"w{len(ids)}", workflow_key)
    server.replace({"adw_id": i, "note": "é\u2028"} for i in ids)
    records = [{"adw_id": i, "note": "é\u2028"} for i in sorted(ids)]
    assert json.loads(protocol.records_json(server)) == records
    seed = json.loads(protocol.seed_message(server))
    assert seed == {"type": f"w{len(ids)}_update", "data": records}
    assert json.loads(protocol.snapshot_message(server))["data"] == records


def test_a_resume_with_nothing_missed_is_an_empty_delta() -> None:
    server = Collection("routes", lambda r: f"{r['method']} {r['path']}")
    server.apply([{"method": "GET", "path": "/x"}])
    message = json.loads(protocol.resume_message(server, []))
    assert (message["type"], message["seq"], message["upsert"], message["remove"]) == (
        "delta",
        1,
        [],
        [],
    )
