"""One thread writes the store: it batches what the event loop submits and marks it durable.

The event loop only appends to a list under a lock (`submit`). The writer thread takes all
that has gathered, writes it in one transaction, and wakes whoever awaits `flush`. While
the database fails, the batch stays in memory (bounded: the oldest rows are dropped and
counted) and the writer retries with growing delays. Between batches it runs housekeeping
(retention) one short step at a time, so pruning never holds writes back for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger("livewatch.store")

StoreState = Literal["ok", "degraded"]
Row = dict[str, Any]
Offsets = dict[str, tuple[int, int]]
LOST_RANGES = 1000  # how many ranges of dropped seqs `flush` can still tell apart
# write(rows, offsets) commits both in one transaction or raises.
WriteFn = Callable[[list[Row], Offsets], None]


@dataclass
class _Batch:
    rows: list[tuple[int, Row]]  # (ticket, row): the ticket is the `submit` call it came in
    offsets: Offsets
    ticket: int  # every submit up to this one is in the batch, or was dropped


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop | None  # None: a thread waiting on the condition
    future: asyncio.Future[bool] | None
    seq: int | None
    ticket: int
    outcome: bool | None = field(default=None)


def _set(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():  # it may have timed out meanwhile
        future.set_result(value)


class BatchWriter:
    """Queues rows from any thread and writes them from its own, in batches, until closed."""

    def __init__(
        self,
        write: WriteFn,
        *,
        prepare: Callable[[], None],
        reset: Callable[[], None],
        housekeep: Callable[[], bool],
        housekeep_every_s: float = 60.0,
        max_pending: int = 100_000,
        retry_first_s: float = 0.5,
        retry_max_s: float = 30.0,
        linger_s: float = 0.0,
        awaited_linger_s: float | None = None,
        busy_linger_s: float | None = None,
        busy_rows: int = 50,
        name: str = "store",
    ) -> None:
        self._write = write
        self._prepare = prepare  # make the database usable (folders, migrations); may raise
        self._reset = reset  # forget connections after a failure, so a retry opens afresh
        self._housekeep = housekeep  # one step; True while more steps remain
        self.housekeep_every_s = housekeep_every_s
        self.max_pending = max_pending
        self.retry_first_s = retry_first_s
        self.retry_max_s = retry_max_s
        # In a steady stream (a commit ended less than `linger_s` before the next began), rows
        # gather before the next commit: fewer, larger transactions cost far less CPU. Rows
        # someone awaits with `flush` (a hook post's answer) gather only `awaited_linger_s`.
        # A lone row is written at once, so what a client was just shown is durable as soon
        # as it was before.
        self.linger_s = linger_s
        self.awaited_linger_s = linger_s if awaited_linger_s is None else awaited_linger_s
        # After a commit of `busy_rows` or more, the next one gathers `busy_linger_s`: the
        # rows a crash would leave unwritten (and shown again after a restart: they are read
        # again from the last stored offset) grow with the linger, so it is long only where
        # the flow is heavy enough for the saving to matter.
        self.busy_linger_s = linger_s if busy_linger_s is None else busy_linger_s
        self.busy_rows = busy_rows
        self._gather_s = linger_s  # this stream's linger, by the size of the last commit
        self._last_commit = float("-inf")
        self.name = name
        self.state: StoreState = "ok"
        self.last_error: str | None = None
        self.dropped = 0  # rows given up because the database stayed unwritable too long
        self.written = 0
        self._cond = threading.Condition()
        self._pending: deque[tuple[int, Row]] = deque()
        self._offsets: Offsets = {}
        self._ticket = 0  # one per submit call
        self._settled = 0  # every ticket up to this one is written or dropped
        self._durable_seq = 0
        self._waiters: list[_Waiter] = []
        self._told_dropping = False
        self._lost: list[tuple[int, int]] = []  # seq ranges dropped, newest last
        self._in_flight = 0
        self._ready = False
        self._stopping = False
        self._stop = threading.Event()
        self._next_housekeeping = 0.0  # at once: retention runs right after startup
        self._housekeeping = False
        self._thread = threading.Thread(target=self._run, name=f"livewatch-{name}", daemon=True)

    # -- the event loop's side ------------------------------------------------------------

    def start(self, *, ready: bool, durable_seq: int = 0) -> None:
        """Start the thread; `ready`: `prepare` succeeded; `durable_seq`: the newest stored."""
        self._ready = ready
        self._durable_seq = durable_seq
        if not ready:
            self.state = "degraded"
        self._thread.start()

    @property
    def durable_seq(self) -> int:
        """The highest seq committed so far."""
        return self._durable_seq

    @property
    def pending(self) -> int:
        """Rows submitted and not yet committed (nor dropped)."""
        return len(self._pending) + self._in_flight

    def submit(self, rows: list[Row], offsets: Offsets | None = None) -> None:
        """Queue rows (each with a `seq`) and transcript offsets; returns at once."""
        if not rows and not offsets:
            return  # nothing to settle: a ticket for it would only hold `flush` up
        with self._cond:
            if self._stopping:
                self.dropped += len(rows)
                log.debug("[STORE] %s is closed: dropped %d events", self.name, len(rows))
                return
            self._ticket += 1
            self._pending.extend((self._ticket, row) for row in rows)
            if offsets:
                self._offsets.update(offsets)
            self._trim()
            self._cond.notify_all()

    async def flush(self, seq: int | None = None, *, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far (or just up to `seq`) is committed.

        False when it timed out, or when rows it waited for were dropped.
        """
        loop = asyncio.get_running_loop()
        with self._cond:
            waiter = _Waiter(loop, loop.create_future(), seq, self._ticket)
            if (outcome := self._outcome(waiter)) is not None or self._finished():
                return bool(outcome)
            self._add_waiter(waiter)
        assert waiter.future is not None
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            return False
        finally:
            self._forget(waiter)

    def flush_sync(self, seq: int | None = None, *, timeout: float | None = None) -> bool:
        """`flush` for plain threads (tests, command-line tools, `close`)."""
        with self._cond:
            waiter = _Waiter(None, None, seq, self._ticket)
            if (outcome := self._outcome(waiter)) is not None or self._finished():
                return bool(outcome)
            self._add_waiter(waiter)
            self._cond.wait_for(lambda: waiter.outcome is not None, timeout)
        self._forget(waiter)
        return bool(waiter.outcome)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (one attempt if the database fails), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("[STORE] %s writer did not stop within %.0fs", self.name, timeout)

    # -- bookkeeping (callers hold the lock) --------------------------------------------

    def _finished(self) -> bool:
        """Closed and done: nothing will be written any more."""
        return self._stopping and not self._thread.is_alive()

    def _was_dropped(self, seq: int) -> bool:
        return any(low <= seq <= high for low, high in self._lost)

    def _outcome(self, waiter: _Waiter) -> bool | None:
        if waiter.seq is not None:
            if self._was_dropped(waiter.seq):
                return False
            if self._durable_seq >= waiter.seq:
                return True
        if self._settled >= waiter.ticket:
            # Everything it could wait for is settled; a seq not written by now never was.
            return waiter.seq is None
        return None

    def _finish(self, waiter: _Waiter, outcome: bool) -> None:
        waiter.outcome = outcome
        if waiter.loop is not None and waiter.future is not None:
            # A closed event loop raises: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                waiter.loop.call_soon_threadsafe(_set, waiter.future, outcome)

    def _wake(self, dropped: list[tuple[int, Row]] | None = None) -> None:
        """Settle the waiters that can be settled now."""
        first = dropped[0][0] if dropped else None
        keep: list[_Waiter] = []
        for waiter in self._waiters:
            outcome: bool | None
            if waiter.seq is None and first is not None and first <= waiter.ticket:
                outcome = False  # something it waits for is gone
            else:
                outcome = self._outcome(waiter)
            if outcome is None:
                keep.append(waiter)
            else:
                self._finish(waiter, outcome)
        self._waiters = keep
        self._cond.notify_all()

    def _add_waiter(self, waiter: _Waiter) -> None:
        self._waiters.append(waiter)
        self._cond.notify_all()  # a lingering writer now waits only `awaited_linger_s`

    def _forget(self, waiter: _Waiter) -> None:
        with self._cond:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _trim(self) -> None:
        """Drop the oldest rows beyond `max_pending`: memory stays bounded however long it fails."""
        excess = len(self._pending) + self._in_flight - self.max_pending
        if excess <= 0:
            return
        excess = min(excess, len(self._pending))
        dropped = [self._pending.popleft() for _ in range(excess)]
        # Remember which seqs went (the hub numbers in submit order: one range per drop), so
        # `flush(seq)` for one of them answers False at once instead of waiting it out.
        low, high = dropped[0][1]["seq"], dropped[-1][1]["seq"]
        if self._lost and self._lost[-1][1] + 1 >= low:
            low = min(low, self._lost.pop()[0])
        self._lost.append((low, high))
        del self._lost[:-LOST_RANGES]
        if not self._told_dropping:  # once per outage
            self._told_dropping = True
            log.warning(
                "[STORE] more than %d events unwritten: dropping the oldest", self.max_pending
            )
        self.dropped += excess
        self._wake(dropped)

    # -- the writer thread --------------------------------------------------------------

    def _take(self) -> _Batch | None:
        """Block until there is work; the whole queue as one batch, or None to stop."""
        with self._cond:
            while not (self._pending or self._offsets or self._stopping):
                if not self._ready:
                    break  # retry `prepare` even while nothing is submitted
                wait = self._next_housekeeping - time.monotonic()
                if self._housekeeping or wait <= 0:
                    break
                self._cond.wait(wait)
            if self._stopping and not (self._pending or self._offsets):
                return None
            batch = _Batch(list(self._pending), self._offsets, self._ticket)
            self._pending.clear()
            self._offsets = {}
            self._in_flight = len(batch.rows)
            return batch

    def _commit(self, batch: _Batch) -> bool:
        """Write one batch; on failure put it back in front of the queue."""
        try:
            if not self._ready:
                self._prepare()
                self._ready = True
            if batch.rows or batch.offsets:
                self._write([row for _, row in batch.rows], batch.offsets)
        except Exception as error:
            self._failed(batch, error)
            return False
        with self._cond:
            self._in_flight = 0
            self._settled = max(self._settled, batch.ticket)
            if batch.rows:
                self._durable_seq = max(self._durable_seq, max(r["seq"] for _, r in batch.rows))
            busy = len(batch.rows) >= self.busy_rows
            self._gather_s = self.busy_linger_s if busy else self.linger_s
            self.written += len(batch.rows)
            recovered, self.state, self.last_error = self.state != "ok", "ok", None
            self._told_dropping = False
            self._wake()
        if recovered:
            log.warning(
                "[STORE] %s is writable again (%d events dropped in all)", self.name, self.dropped
            )
        return True

    def _failed(self, batch: _Batch, error: Exception) -> None:
        self._ready = False  # the file may be gone or replaced: `prepare` again before writing
        try:
            self._reset()
        except Exception:
            log.debug("[STORE] reset failed", exc_info=True)
        with self._cond:
            self._in_flight = 0
            self._pending.extendleft(reversed(batch.rows))
            # Offsets submitted since are newer: they win.
            self._offsets = {**batch.offsets, **self._offsets}
            first, self.state = self.state == "ok", "degraded"
            self.last_error = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            self._trim()
            pending = len(self._pending)
        if first:
            log.error(
                "[STORE] cannot write %s (%s); keeping up to %d events in memory (%d now), "
                "retrying with backoff",
                self.name,
                self.last_error,
                self.max_pending,
                pending,
            )
        else:
            log.debug("[STORE] still cannot write %s: %s", self.name, self.last_error)

    def _housekeeping_step(self) -> None:
        if not self._housekeeping and time.monotonic() < self._next_housekeeping:
            return
        try:
            self._housekeeping = self._housekeep()
        except Exception as error:
            self._housekeeping = False
            log.warning("[STORE] housekeeping of %s failed: %s", self.name, error)
        if not self._housekeeping:
            self._next_housekeeping = time.monotonic() + self.housekeep_every_s

    def _linger(self) -> None:
        """Let rows gather: `linger_s` (or `busy_linger_s`), cut to `awaited_linger_s` once a
        `flush` waits."""
        start = time.monotonic()
        with self._cond:
            while not (self._stopping or self._waiters):
                left = start + self._gather_s - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)
        # Rows are awaited: wait out the short linger, undisturbed by each new submit.
        self._stop.wait(start + self.awaited_linger_s - time.monotonic())

    def _run(self) -> None:
        delay = self.retry_first_s
        while (batch := self._take()) is not None:
            if not self._commit(batch):
                if self._stopping:
                    break
                # The stop event ends the wait early; the loop then makes its last attempt.
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            delay = self.retry_first_s
            if not self._stopping:
                self._housekeeping_step()
                if time.monotonic() - self._last_commit < self._gather_s:
                    self._linger()
                self._last_commit = time.monotonic()  # after the wait: a stream stays steady
        with self._cond:
            unwritten = len(self._pending)
            self.dropped += unwritten
            self._pending.clear()
            for waiter in self._waiters:
                self._finish(waiter, self._outcome(waiter) or False)
            self._waiters = []
            self._cond.notify_all()
        if unwritten:
            log.error("[STORE] closed %s with %d events unwritten", self.name, unwritten)
