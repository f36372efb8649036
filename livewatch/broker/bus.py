"""The Redis bus between agent hosts and dashboard replicas: its keys, scripts and entries.

Layout (every key starts with the prefix, `livewatch` by default):

    livewatch:epoch           string  the shared epoch; made once, new only if Redis lost its state
    livewatch:seq             int     the last global sequence number
    livewatch:changes         stream  one entry per change, ID `<seq>-0`
    livewatch:hosts           set     every host label that ever published
    livewatch:stale           set     hosts whose heartbeat ran out
    livewatch:records:<host>  hash    adw_id -> the record's JSON, as that host last published it
    livewatch:host:<host>     string  heartbeat: `<pid>@<machine>`, expiring after stale_after_s
    livewatch:events:epoch    string  the agent events' epoch (its own: events are numbered apart)
    livewatch:events:seq      int     the last agent event's number
    livewatch:events          stream  one entry per agent event, ID `<seq>-0`
    livewatch:activity:<host> stream  hook posts that joined one of this host's workflows

Every write is one Lua script, so the record hash, the sequence number and the stream entry
change together: a replica that loads the snapshot at seq N and then reads the stream after
`N-0` sees every change exactly once. A script that changes nothing adds no entry, so the
stream's seqs have no gaps and a gap means entries were trimmed (the reader reloads).

A new epoch starts its seqs at Redis's clock in microseconds, not at 0: a Redis that lost its
data then still numbers changes above anything a client saw, so open protocol-2 sessions keep
accepting deltas, and a client that reconnects with the old epoch gets a fresh snapshot.

Agent events (transcript lines, hook posts) have a stream of their own, numbered the same way
but apart from the changes (`events:seq`): every replica appends each one to its event log, and
stores it, under that number. The replicas' databases key events by seq, so numbers must never
be reused: the clock start covers a Redis that lost everything, and `raise_events_floor` one
restored from an older save.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

Record = dict[str, Any]
BrokerState = Literal["connecting", "connected", "degraded"]

# What losing Redis looks like: redis-py's own errors, and the socket's.
BROKER_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)

# Shared by the scripts: make the epoch when there is none, starting the seqs at Redis's
# clock (see above); add a numbered entry. Numbers are formatted with %d: Lua's default
# number format would round their 16 digits.
_HELPERS = """
local function ensure_epoch(epoch_key, seq_key, candidate)
  local epoch = redis.call('GET', epoch_key)
  if epoch then return epoch end
  local now = redis.call('TIME')
  local base = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local seq = tonumber(redis.call('GET', seq_key) or '0')
  if base > seq then redis.call('SET', seq_key, string.format('%d', base)) end
  redis.call('SET', epoch_key, candidate)
  return candidate
end

local function add_entry(keys_seq, keys_stream, maxlen, fields)
  local seq = redis.call('INCR', keys_seq)
  local args = {keys_stream, 'MAXLEN', '~', maxlen, string.format('%d-0', seq)}
  for _, value in ipairs(fields) do args[#args + 1] = value end
  redis.call('XADD', unpack(args))
  return string.format('%d', seq)
end
"""

# KEYS: epoch seq changes hosts stale records:<host> host:<host>
# ARGV: host mode(patch|sync) epoch_candidate ttl_ms maxlen publisher n id1 json1 ... remove...
# Publishing is also the heartbeat, and it clears the host's stale mark (with an entry).
_PUBLISH = (
    _HELPERS
    + """
local host, mode, n = ARGV[1], ARGV[2], tonumber(ARGV[7])
local epoch = ensure_epoch(KEYS[1], KEYS[2], ARGV[3])
redis.call('SET', KEYS[7], ARGV[6], 'PX', ARGV[4])
redis.call('SADD', KEYS[4], host)
local revived = redis.call('SREM', KEYS[5], host)
local upserts, removes, given = {}, {}, {}
for i = 0, n - 1 do
  local id, record = ARGV[8 + 2 * i], ARGV[9 + 2 * i]
  given[id] = true
  if redis.call('HGET', KEYS[6], id) ~= record then
    redis.call('HSET', KEYS[6], id, record)
    upserts[#upserts + 1] = record
  end
end
for i = 8 + 2 * n, #ARGV do
  if redis.call('HDEL', KEYS[6], ARGV[i]) == 1 then removes[#removes + 1] = ARGV[i] end
end
if mode == 'sync' then
  for _, id in ipairs(redis.call('HKEYS', KEYS[6])) do
    if not given[id] then
      redis.call('HDEL', KEYS[6], id)
      removes[#removes + 1] = id
    end
  end
end
if #upserts == 0 and #removes == 0 and revived == 0 then
  return {epoch, redis.call('GET', KEYS[2])}
end
local removed = '[]'
if #removes > 0 then removed = cjson.encode(removes) end
local seq = add_entry(KEYS[2], KEYS[3], ARGV[5], {
  'epoch', epoch, 'host', host, 'op', 'change',
  'upsert', '[' .. table.concat(upserts, ',') .. ']', 'remove', removed})
return {epoch, seq}
"""
)

# KEYS: epoch seq changes hosts stale; ARGV: prefix maxlen. Marks each host whose heartbeat
# key expired, once: the SADD makes a second replica's identical check a no-op.
_MARK_STALE = (
    _HELPERS
    + """
local epoch = redis.call('GET', KEYS[1])
local marked = {}
if not epoch then return marked end
for _, host in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('EXISTS', ARGV[1] .. 'host:' .. host) == 0
      and redis.call('SADD', KEYS[5], host) == 1 then
    add_entry(KEYS[2], KEYS[3], ARGV[2], {
      'epoch', epoch, 'host', host, 'op', 'stale', 'upsert', '[]', 'remove', '[]'})
    marked[#marked + 1] = host
  end
end
return marked
"""
)

# KEYS: epoch seq hosts stale; ARGV: prefix epoch_candidate.
# Everything a replica needs to start: one consistent cut at one seq.
_SNAPSHOT = (
    _HELPERS
    + """
local epoch = ensure_epoch(KEYS[1], KEYS[2], ARGV[2])
local out = {epoch, redis.call('GET', KEYS[2]), redis.call('SMEMBERS', KEYS[4])}
for _, host in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  out[#out + 1] = host
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. 'records:' .. host)
end
return out
"""
)

# KEYS: epoch seq; ARGV: old_epoch new_epoch min_seq. Used when Redis went back in time
# (restored from an older save): a new epoch, numbered above what the replica already saw.
_RENEW_EPOCH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.call('GET', KEYS[1]) end
local now = redis.call('TIME')
local seq = math.max(tonumber(now[1]) * 1000000 + tonumber(now[2]), tonumber(ARGV[3]),
                     tonumber(redis.call('GET', KEYS[2]) or '0'))
redis.call('SET', KEYS[2], string.format('%d', seq))
redis.call('SET', KEYS[1], ARGV[2])
return ARGV[2]
"""

# KEYS: events:epoch events:seq events hosts
# ARGV: epoch_candidate maxlen prefix host n, then per event: adw_id json brief
# One entry per event. An agent's event (host given) whose adw id another host has too gets
# the id the merged list shows its record under, `<adw_id>@<host>` (merge.py), in `adw_id`. A
# hook post (no host) that joined a workflow also goes, brief (no payload), to the activity
# stream of the host(s) running it, so that host's agent folds it into the workflow's "now".
_PUBLISH_EVENTS = (
    _HELPERS
    + """
local prefix, host, n = ARGV[3], ARGV[4], tonumber(ARGV[5])
local epoch = ensure_epoch(KEYS[1], KEYS[2], ARGV[1])
local hosts, known = nil, {}
local function owners(adw_id)
  if known[adw_id] then return known[adw_id] end
  hosts = hosts or redis.call('SMEMBERS', KEYS[4])
  local found = {}
  for _, h in ipairs(hosts) do
    if redis.call('HEXISTS', prefix .. 'records:' .. h, adw_id) == 1 then found[#found + 1] = h end
  end
  known[adw_id] = found
  return found
end
local seqs = {}
for i = 0, n - 1 do
  local adw_id, event, brief = ARGV[6 + 3 * i], ARGV[7 + 3 * i], ARGV[8 + 3 * i]
  local fields = {'epoch', epoch, 'host', host, 'event', event}
  if adw_id ~= '' and host ~= '' then
    for _, h in ipairs(owners(adw_id)) do
      if h ~= host then
        fields[#fields + 1] = 'adw_id'
        fields[#fields + 1] = adw_id .. '@' .. host
        break
      end
    end
  elseif adw_id ~= '' and brief ~= '' then
    local plain, targets = adw_id, nil
    local at = string.find(adw_id, '@', 1, true)
    if at then
      plain = string.sub(adw_id, 1, at - 1)
      targets = {string.sub(adw_id, at + 1)}
      if redis.call('SISMEMBER', KEYS[4], targets[1]) == 0 then targets = {} end
    else
      targets = owners(adw_id)
    end
    for _, h in ipairs(targets) do
      redis.call('XADD', prefix .. 'activity:' .. h, 'MAXLEN', '~', 1000, '*',
                 'adw_id', plain, 'event', brief)
    end
  end
  seqs[#seqs + 1] = add_entry(KEYS[2], KEYS[3], ARGV[2], fields)
end
return {epoch, seqs}
"""
)

# KEYS: events:epoch events:seq events; ARGV: epoch_candidate. Where the events stand, for a
# replica that starts following them: the epoch (made now if there is none, so every replica
# shows the same one from the start), the last seq, the oldest entry's ID ('' when empty).
_EVENTS_POSITION = (
    _HELPERS
    + """
local epoch = ensure_epoch(KEYS[1], KEYS[2], ARGV[1])
local oldest = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
local first = ''
if #oldest > 0 then first = oldest[1][1] end
return {epoch, redis.call('GET', KEYS[2]), first}
"""
)

# KEYS: events:epoch events:seq; ARGV: floor. Number the next events above `floor` (what a
# replica holds); 1 when Redis has an epoch and was below it (it came back from an older save).
_EVENTS_FLOOR = """
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], ARGV[1])
  return redis.call('EXISTS', KEYS[1])
end
return 0
"""

# An event crosses Redis with its payload (the raw line or hook body) cut to this size: a
# transcript line is at most 1 MiB already, but a hook's body may be `--hook-max-body-mb` (16
# MB by default, a Stop with `--add-chat`), and the stream keeps ~events_maxlen of them in
# Redis's memory. A cut body says so: `chat` keeps its newest messages behind a note; any other
# payload keeps its first bytes and ends with PAYLOAD_CUT.
PAYLOAD_MAX = 1024 * 1024
PAYLOAD_CUT = "…[livewatch: cut to 1 MiB to cross the broker; {size} bytes in all]"

# What a host's heartbeat key holds: which process publishes for it (for operators, and to
# tell a restarted agent from the one before it).
PUBLISHER = f"{os.getpid()}@{socket.gethostname()}"


def new_epoch() -> str:
    return uuid.uuid4().hex[:12]


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def dumps(record: Record) -> str:
    # The publish script compares these strings to skip unchanged records: keep them stable.
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Keys:
    prefix: str = "livewatch"

    @property
    def base(self) -> str:
        return f"{self.prefix}:"

    @property
    def epoch(self) -> str:
        return f"{self.base}epoch"

    @property
    def seq(self) -> str:
        return f"{self.base}seq"

    @property
    def changes(self) -> str:
        return f"{self.base}changes"

    @property
    def hosts(self) -> str:
        return f"{self.base}hosts"

    @property
    def stale(self) -> str:
        return f"{self.base}stale"

    def records(self, host: str) -> str:
        return f"{self.base}records:{host}"

    def heartbeat(self, host: str) -> str:
        return f"{self.base}host:{host}"

    @property
    def events_epoch(self) -> str:
        return f"{self.base}events:epoch"

    @property
    def events_seq(self) -> str:
        return f"{self.base}events:seq"

    @property
    def events(self) -> str:
        return f"{self.base}events"

    def activity(self, host: str) -> str:
        return f"{self.base}activity:{host}"


@dataclass(frozen=True)
class Entry:
    """One stream entry: a host's change (which also means it is alive), or its going stale."""

    seq: int
    epoch: str
    host: str
    op: Literal["change", "stale"]
    upsert: list[Record]
    remove: list[str]

    @classmethod
    def parse(cls, entry_id: str, fields: dict[str, str]) -> Entry:
        return cls(
            seq=int(entry_id.split("-", 1)[0]),
            epoch=fields["epoch"],
            host=fields["host"],
            op="stale" if fields.get("op") == "stale" else "change",
            upsert=json.loads(fields.get("upsert") or "[]"),
            remove=json.loads(fields.get("remove") or "[]"),
        )


@dataclass(frozen=True)
class Snapshot:
    """The whole shared state at one seq: each host's records, and which hosts are stale."""

    epoch: str
    seq: int
    records: dict[str, list[Record]]
    stale: set[str]


@dataclass(frozen=True)
class EventEntry:
    """One agent event from the events stream, numbered by Redis."""

    seq: int
    epoch: str
    host: str  # the agent host that read it; "" for a hook posted to a replica
    event: dict[str, Any]  # with its seq, and the adw id the merged list shows

    @classmethod
    def parse(cls, entry_id: str, fields: dict[str, str]) -> EventEntry:
        seq = int(entry_id.split("-", 1)[0])
        event = json.loads(fields["event"])
        event["seq"] = seq
        if "adw_id" in fields:  # namespaced: another host has a workflow of that id too
            event["adw_id"] = fields["adw_id"]
        return cls(seq=seq, epoch=fields["epoch"], host=fields.get("host", ""), event=event)


def fit_payload(payload: str, limit: int = PAYLOAD_MAX) -> str:
    """The payload, cut (and saying so) when it is over `limit` bytes."""
    if len(payload) * 4 <= limit:  # the common case, without encoding it (UTF-8: ≤ 4 B/char)
        return payload
    size = len(payload.encode())
    if size <= limit:
        return payload
    with contextlib.suppress(ValueError, RecursionError):
        body = json.loads(payload)
        if isinstance(body, dict) and isinstance(body.get("chat"), list):
            # A hook with the whole transcript: keep the body and the newest messages.
            chat, body["chat"] = body["chat"], []
            room = limit - len(dumps(body).encode()) - 200
            kept: list[Any] = []
            for message in reversed(chat):
                room -= len(dumps(message).encode()) + 1
                if room < 0:
                    break
                kept.append(message)
            note = {"livewatch": f"{len(chat) - len(kept)} older messages left out (1 MiB cap)"}
            body["chat"] = [note, *reversed(kept)]
            text = dumps(body)
            if len(text.encode()) <= limit:
                return text
    marker = PAYLOAD_CUT.format(size=size)
    head = payload.encode()[: limit - len(marker.encode())]
    return head.decode(errors="ignore") + marker


def event_args(event: dict[str, Any], *, brief: bool) -> list[str]:
    """An event as the publish script takes it: its adw id, its JSON (no seq, the payload
    fitted) and, for a hook post, its public fields alone (for the activity stream)."""
    shown = {k: v for k, v in event.items() if k != "seq"}
    if isinstance(payload := shown.get("payload"), str):
        shown["payload"] = fit_payload(payload)
    summary = ""
    if brief and event.get("adw_id"):
        summary = dumps({k: v for k, v in shown.items() if k not in ("payload", "origin")})
    return [str(event.get("adw_id") or ""), dumps(shown), summary]


class Bus:
    """One connection pool to Redis with the operations agents and replicas need.

    redis-py's own retries are off: a lost Redis surfaces at once as an error, and the caller
    decides how long to back off and reports "degraded" meanwhile.
    """

    def __init__(
        self,
        url: str,
        *,
        keys: Keys | None = None,
        read_timeout: float = 10.0,
        stream_maxlen: int = 10_000,
        events_maxlen: int = 100_000,
    ) -> None:
        self.keys = keys or Keys()
        self.stream_maxlen = stream_maxlen
        self.events_maxlen = events_maxlen
        self.redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=read_timeout,  # longer than any blocking read we issue
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        self._publish = self.redis.register_script(_PUBLISH)
        self._mark_stale = self.redis.register_script(_MARK_STALE)
        self._snapshot = self.redis.register_script(_SNAPSHOT)
        self._renew = self.redis.register_script(_RENEW_EPOCH)
        self._publish_events = self.redis.register_script(_PUBLISH_EVENTS)
        self._events_floor = self.redis.register_script(_EVENTS_FLOOR)
        self._events_position = self.redis.register_script(_EVENTS_POSITION)

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        with contextlib.suppress(*BROKER_ERRORS):  # closing a connection to a Redis that is gone
            await self.redis.aclose()

    # -- agents --------------------------------------------------------------------------

    async def publish(
        self,
        host: str,
        upsert: list[Record],
        remove: list[str],
        *,
        sync: bool = False,
        ttl_s: float,
    ) -> tuple[str, int]:
        """Store a host's changed records (all of them when `sync`) and refresh its heartbeat.

        Unchanged records are skipped in Redis; only real changes get a seq and an entry.
        Returns the epoch and the current seq.
        """
        k = self.keys
        args: list[str | int] = [
            host,
            "sync" if sync else "patch",
            new_epoch(),
            max(1, round(ttl_s * 1000)),
            self.stream_maxlen,
            PUBLISHER,
            len(upsert),
        ]
        for record in upsert:
            args += [str(record["adw_id"]), dumps(record)]
        args += remove
        keys = [k.epoch, k.seq, k.changes, k.hosts, k.stale, k.records(host), k.heartbeat(host)]
        epoch, seq = await self._publish(keys=keys, args=args)
        return epoch, int(seq)

    # -- replicas ------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        k = self.keys
        reply = await self._snapshot(
            keys=[k.epoch, k.seq, k.hosts, k.stale], args=[k.base, new_epoch()]
        )
        epoch, seq, stale, rest = reply[0], int(reply[1]), set(reply[2]), reply[3:]
        records = {}
        for host, flat in zip(rest[::2], rest[1::2], strict=True):
            records[host] = [json.loads(text) for text in flat[1::2]]
        return Snapshot(epoch, seq, records, stale)

    async def epoch(self) -> str | None:
        return await self.redis.get(self.keys.epoch)

    async def hosts(self) -> set[str]:
        """The hosts that published since Redis last lost its state."""
        return set(await self.redis.smembers(self.keys.hosts))

    async def position(self) -> tuple[str | None, int]:
        """The epoch (None when Redis holds none) and the last seq."""
        epoch, seq = await self.redis.mget(self.keys.epoch, self.keys.seq)
        return epoch, int(seq or 0)

    async def read(self, after: int, *, block_ms: int, count: int = 1000) -> list[Entry]:
        """The entries after seq `after`, waiting up to `block_ms` for the first one."""
        reply = await self.redis.xread(
            {self.keys.changes: f"{after}-0"}, count=count, block=block_ms
        )
        return [Entry.parse(i, fields) for _, entries in reply or () for i, fields in entries]

    async def mark_stale_hosts(self) -> list[str]:
        """Mark every host whose heartbeat ran out as stale; returns the hosts just marked."""
        k = self.keys
        keys = [k.epoch, k.seq, k.changes, k.hosts, k.stale]
        return list(await self._mark_stale(keys=keys, args=[k.base, self.stream_maxlen]))

    async def renew_epoch(self, old: str, min_seq: int) -> str:
        """Start a new epoch (if `old` is still current) numbered above `min_seq`."""
        k = self.keys
        return str(await self._renew(keys=[k.epoch, k.seq], args=[old, new_epoch(), min_seq]))

    # -- agent events ----------------------------------------------------------------------

    async def publish_events(
        self, host: str, events: list[dict[str, Any]]
    ) -> tuple[str, list[int]]:
        """Append agent events to the events stream, numbered there; returns the events'
        epoch and their seqs (in order, consecutive). `host` is the agent host that read
        them, or "" for a hook posted to a replica. Their own `seq`, if any, is not sent."""
        return await self.publish_prepared(host, [event_args(e, brief=not host) for e in events])

    async def publish_prepared(self, host: str, prepared: list[list[str]]) -> tuple[str, list[int]]:
        """`publish_events` for events already made ready with `event_args`."""
        k = self.keys
        args: list[str | int] = [new_epoch(), self.events_maxlen, k.base, host, len(prepared)]
        for event in prepared:
            args += event
        epoch, seqs = await self._publish_events(
            keys=[k.events_epoch, k.events_seq, k.events, k.hosts], args=args
        )
        return epoch, [int(seq) for seq in seqs]

    async def read_events(
        self, after: int, *, block_ms: int | None, count: int = 500
    ) -> list[EventEntry]:
        """The events after seq `after`, waiting up to `block_ms` for the first (None: not)."""
        reply = await self.redis.xread(
            {self.keys.events: f"{after}-0"}, count=count, block=block_ms
        )
        return [EventEntry.parse(i, f) for _, entries in reply or () for i, f in entries]

    async def events_position(self) -> tuple[str, int, int | None]:
        """The events' epoch (made if Redis holds none), their last seq, and the oldest seq
        the stream still holds (None when it is empty)."""
        k = self.keys
        epoch, seq, first = await self._events_position(
            keys=[k.events_epoch, k.events_seq, k.events], args=[new_epoch()]
        )
        return str(epoch), int(seq or 0), int(first.split("-", 1)[0]) if first else None

    async def raise_events_floor(self, seq: int) -> bool:
        """Number the next events above `seq`; True when Redis was behind it with an epoch
        (restored from an older save, not emptied)."""
        k = self.keys
        return bool(await self._events_floor(keys=[k.events_epoch, k.events_seq], args=[seq]))

    async def activity_tail(self, host: str) -> str:
        """The newest ID in a host's activity stream, to read what comes after it."""
        newest = await self.redis.xrevrange(self.keys.activity(host), count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def read_activity(
        self, host: str, after: str, *, block_ms: int
    ) -> tuple[str, list[dict[str, Any]]]:
        """Hook posts that joined this host's workflows, after stream ID `after`; returns the
        last ID read and the events (public fields, with the host's own adw id)."""
        reply = await self.redis.xread({self.keys.activity(host): after}, block=block_ms)
        last, found = after, []
        for _, entries in reply or ():
            for entry_id, fields in entries:
                last = entry_id
                with contextlib.suppress(ValueError):
                    found.append({**json.loads(fields["event"]), "adw_id": fields["adw_id"]})
        return last, found
