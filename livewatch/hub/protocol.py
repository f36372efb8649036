"""The wire format: the seed's full lists and protocol 2's snapshots and deltas.

With 10,000 workflows the seed message is megabytes, so it is encoded once per sequence
number and the same text goes to every client, however many there are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from livewatch.hub.collection import Change, Collection, Record

_encoded: dict[tuple[str, str, str], tuple[int, str]] = {}
_deltas: dict[tuple[str, str, int], str] = {}
_record_json: dict[str, dict[str, tuple[Record, str]]] = {}
_texts: dict[tuple[str, str], tuple[int, list[str]]] = {}


def dumps(message: Any) -> str:
    return encode(message).decode()


def encode(message: Any) -> bytes:
    """Compact UTF-8 JSON, as `json.dumps(separators=(",", ":"), ensure_ascii=False)` writes it.

    orjson (also a NiceGUI dependency) is ~10x faster, and at a thousand hook
    posts a second every message counts. What it refuses (keys that are not strings, ints
    past 64 bits) goes through `json`. Unlike `json`, it writes NaN as null: valid JSON.
    """
    try:
        return orjson.dumps(message)
    except TypeError:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def decode(text: str | bytes) -> Any:
    """`json.loads`, by orjson (~3x faster: hook bodies and transcript lines come by the
    thousand a second) where it can. What orjson refuses (NaN, lone surrogates, ints past
    64 bits), `json` reads, or explains in its own words."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _record_texts(collection: Collection) -> list[str]:
    """Each record's JSON, in order; kept while the hub holds the same record object.

    So a change re-encodes only the records it touched, and a list is a join, not a dumps
    of every record (75 ms for 10,000 workflows, on every change and for every snapshot).
    """
    cache_key = (collection.name, collection.epoch)
    cached = _texts.get(cache_key)
    if cached is not None and cached[0] == collection.seq:
        return cached[1]
    old = _record_json.get(collection.name, {})
    fresh: dict[str, tuple[Record, str]] = {}
    for record in collection.records():
        key = collection.key(record)
        hit = old.get(key)
        if hit is None or hit[0] is not record:
            hit = (record, dumps(record))
        fresh[key] = hit
    _record_json[collection.name] = fresh  # records that left go with `old`
    texts = [text for _, text in fresh.values()]
    _texts[cache_key] = (collection.seq, texts)
    return texts


def _framed(prefix: str, texts: list[str], suffix: str) -> str:
    """`prefix + ",".join(texts) + suffix` in one copy: a seed list is megabytes."""
    if not texts:
        return prefix + suffix
    if len(texts) == 1:
        return prefix + texts[0] + suffix
    return ",".join([prefix + texts[0], *texts[1:-1], texts[-1] + suffix])


def records_json(collection: Collection) -> str:
    """The collection's records as one JSON array, built once per sequence number."""
    cache_key = ("records", collection.name, collection.epoch)
    cached = _encoded.get(cache_key)
    if cached is not None and cached[0] == collection.seq:
        return cached[1]
    text = _framed("[", _record_texts(collection), "]")
    _encoded[cache_key] = (collection.seq, text)
    return text


def _with_records(head: dict[str, Any], collection: Collection) -> str:
    """`head` as JSON, with a last member `"data"`: the records, joined in one copy."""
    return _framed(dumps(head)[:-1] + ',"data":[', _record_texts(collection), "]}")


def seed_message(collection: Collection) -> str:
    """`{"type":"<name>_update","data":[...]}` for the collection's current state."""
    cache_key = ("seed", collection.name, collection.epoch)
    cached = _encoded.get(cache_key)
    if cached is not None and cached[0] == collection.seq:
        return cached[1]
    text = _with_records({"type": f"{collection.name}_update"}, collection)
    _encoded[cache_key] = (collection.seq, text)
    return text


def snapshot_message(collection: Collection) -> str:
    """Protocol 2's first message: the whole state, with the position to resume from."""
    head = {"type": "snapshot", "seq": collection.seq, "epoch": collection.epoch, "ts": time.time()}
    return _with_records(head, collection)


def delta_message(collection: Collection, changes: Sequence[Change]) -> str:
    """One delta for one or more consecutive changes; the last change's seq is the position."""
    if len(changes) == 1:
        return _delta_once(collection, changes[0])
    return dumps(_merged(collection, changes))


def resume_message(collection: Collection, missed: Sequence[Change]) -> str:
    """What a resuming client is sent first: the changes it missed, as one delta."""
    if missed:
        return delta_message(collection, missed)
    return dumps(_delta(collection.seq, time.time(), [], []))


def _delta_once(collection: Collection, change: Change) -> str:
    # Every client on protocol 2 is sent the same text for a change: encode it once.
    key = (collection.name, collection.epoch, change.seq)
    text = _deltas.get(key)
    if text is None:
        text = dumps(_delta(change.seq, change.ts, change.upsert, change.remove))
        _deltas[key] = text
        while len(_deltas) > 256:
            del _deltas[next(iter(_deltas))]
    return text


def _merged(collection: Collection, changes: Sequence[Change]) -> dict[str, Any]:
    latest: dict[str, Record | None] = {}
    for change in changes:
        latest.update({collection.key(r): r for r in change.upsert})
        latest.update(dict.fromkeys(change.remove))
    upsert = [r for r in latest.values() if r is not None]
    remove = sorted(k for k, r in latest.items() if r is None)
    return _delta(changes[-1].seq, changes[-1].ts, upsert, remove)


def _delta(seq: int, ts: float, upsert: Iterable[Record], remove: Iterable[str]) -> dict[str, Any]:
    return {"type": "delta", "seq": seq, "ts": ts, "upsert": list(upsert), "remove": list(remove)}


def list_body(collection: Collection) -> str:
    """The REST list: the seed returns a bare list of workflows, and routes with a total."""
    records = records_json(collection)
    if collection.name == "routes":
        return f'{{"routes":{records},"total":{len(collection)}}}'
    return records


def etag(collection: Collection) -> str:
    return f'"{collection.epoch}-{collection.seq}"'
