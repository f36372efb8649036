"""The Redis bus between agent hosts and dashboard replicas: its keys, scripts and entries.

Layout (every key starts with the prefix, `livewatch` by default):

    livewatch:epoch           string  the shared epoch; made once, new only if Redis lost its state
    livewatch:seq             int     the last global sequence number
    livewatch:changes         stream  one entry per change, ID `<seq>-0`
    livewatch:hosts           set     every host label that ever published
    livewatch:stale           set     hosts whose heartbeat ran out
    livewatch:records:<host>  hash    adw_id -> the record's JSON, as that host last published it
    livewatch:host:<host>     string  heartbeat: `<pid>@<machine>`, expiring after stale_after_s

Every write is one Lua script, so the record hash, the sequence number and the stream entry
change together: a replica that loads the snapshot at seq N and then reads the stream after
`N-0` sees every change exactly once. A script that changes nothing adds no entry, so the
stream's seqs have no gaps and a gap means entries were trimmed (the reader reloads).

A new epoch starts its seqs at Redis's clock in microseconds, not at 0: a Redis that lost its
data then still numbers changes above anything a client saw, so open protocol-2 sessions keep
accepting deltas, and a client that reconnects with the old epoch gets a fresh snapshot.
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
    ) -> None:
        self.keys = keys or Keys()
        self.stream_maxlen = stream_maxlen
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
