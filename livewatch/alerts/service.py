"""The alerts' one way in: follow the hub's workflows, fill the outbox, deliver, keep a feed.

Transitions are found on the event loop (pure and cheap); everything that touches the
database runs in a thread. A database that cannot be written keeps new alerts in memory
(bounded) and the state "degraded"; they are stored and sent once it can be written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from typing import Any

import httpx

from livewatch.alerts import delivery
from livewatch.alerts.outbox import Claim, Outbox, feed_row, now_ms, target_of
from livewatch.alerts.rules import Alert, Rules, alerts_for
from livewatch.hub.collection import Change, Collection
from livewatch.security.secrets import mask_url
from livewatch.store.database import BUSY_TIMEOUT_MS, database_url, open_engine

log = logging.getLogger("livewatch.alerts")

POLL_S = 1.0  # how often due deliveries are looked for (and the feed read back)
RENEW_S = 10.0  # leases (outbox.LEASE_S) are renewed this often while a delivery retries
FEED_SIZE = 50  # alerts the panel and /api/alerts show
MAX_WAITING = 1000  # alerts held in memory while the database cannot be written
ERROR_SHORT = 200


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:ERROR_SHORT]


class AlertService:
    """Alerts for one process: rules in, webhook posts out, and a live feed of the newest."""

    def __init__(
        self,
        db: str,
        rules: Rules,
        webhooks: list[str],
        *,
        give_up_s: float = 600.0,
        timeout_s: float = delivery.TIMEOUT_S,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.rules = rules
        self.give_up_s = give_up_s
        self.timeout_s = timeout_s
        self._urls = {target_of(url): url for url in webhooks}
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        engine = open_engine(database_url(db), busy_timeout_ms=busy_timeout_ms)
        self.outbox = Outbox(engine, owner, self._urls)
        # The newest alerts with their delivery, for the panel and GET /api/alerts.
        self.feed = Collection("alerts", key=lambda r: str(r["key"]), history_size=100)
        self.state = "starting"  # then "ok", or "degraded" while the database fails
        self.last_error: str | None = None
        self.sent = 0
        self._last: dict[str, dict[str, Any]] = {}
        self._waiting: deque[Alert] = deque(maxlen=MAX_WAITING)
        self._inflight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._http: httpx.AsyncClient | None = None

    def follow(self, workflows: Collection) -> None:
        """Start from the records as they are now (no alerts for them), then every change."""
        self._last = {str(r["adw_id"]): _seen(r) for r in workflows.records()}
        workflows.observe(self._on_change)

    def _on_change(self, change: Change) -> None:
        found: list[Alert] = []
        for record in change.upsert:
            adw_id = str(record["adw_id"])
            found += alerts_for(self._last.get(adw_id), record, self.rules)
            self._last[adw_id] = _seen(record)
        for adw_id in change.remove:
            self._last.pop(adw_id, None)
        if found:
            self._waiting.extend(found)
            self._wake.set()

    def newest(self, limit: int = FEED_SIZE) -> list[dict[str, Any]]:
        """The feed, newest first."""
        rows = sorted(self.feed.records(), key=lambda r: (-r["created_ms"], r["key"]))
        return rows[:limit]

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "webhooks": len(self._urls),
            "waiting": len(self._waiting),
            "delivering": len(self._inflight),
            "sent": self.sent,
            "last_error": self.last_error,
        }

    # -- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Store, claim and read back until `stop`; database errors only degrade it."""
        self._http = self._http or delivery.client(self.timeout_s)
        renewed = time.monotonic()
        while not stop.is_set():
            try:
                if self.state != "ok":
                    await asyncio.to_thread(self.outbox.prepare)
                await self._store_waiting()
                for claim in await asyncio.to_thread(self.outbox.claim):
                    self._start(claim)
                if time.monotonic() - renewed >= RENEW_S:
                    renewed = time.monotonic()
                    await asyncio.to_thread(self.outbox.renew, list(self._inflight))
                rows = await asyncio.to_thread(self.outbox.recent, FEED_SIZE)
                self._healthy()
            except Exception as error:
                self._degraded(error)
                rows = self.newest()
            self._show(rows)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)

    async def _store_waiting(self) -> None:
        if not self._waiting:
            return
        batch = list(self._waiting)
        new = await asyncio.to_thread(self.outbox.add, batch)
        for _ in batch:
            self._waiting.popleft()
        if new:
            log.info("[ALERTS] %d new alert(s): %s", new, ", ".join(a.key for a in batch))

    def _show(self, stored: list[dict[str, Any]]) -> None:
        """The feed: what the database holds, plus alerts still waiting to be stored."""
        keys = {r["key"] for r in stored}
        waiting = [
            feed_row(a.key, a.body, now_ms(), [])
            | {"delivery": "pending" if self._urls else "none"}
            for a in self._waiting
            if a.key not in keys
        ]
        self.feed.replace([*stored, *waiting])

    def _healthy(self) -> None:
        if self.state == "degraded":
            log.warning("[ALERTS] the database is writable again; alerts resume")
        self.state, self.last_error = "ok", None

    def _degraded(self, error: Exception) -> None:
        self.last_error = _short(error)
        if self.state != "degraded":
            log.error(
                "[ALERTS] cannot use the alert database (%s); %d alert(s) wait in memory, "
                "delivery resumes when it is back",
                self.last_error,
                len(self._waiting),
            )
        self.state = "degraded"

    # -- one delivery --------------------------------------------------------------------

    def _start(self, claim: Claim) -> None:
        pair = (claim.key, claim.target)
        if pair in self._inflight:
            return
        task = asyncio.create_task(self._send(claim))
        self._inflight[pair] = task
        task.add_done_callback(lambda _: self._inflight.pop(pair, None))

    async def _send(self, claim: Claim) -> None:
        url = self._urls[claim.target]
        assert self._http is not None

        async def failed(attempts: int, error: str) -> None:
            log.warning("[ALERTS] %s to %s: %s; retrying", claim.key, mask_url(url), error)
            # Best effort: it only shows progress; the outcome is written for sure below.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    self.outbox.attempted, claim.key, claim.target, attempts, error
                )
                self._wake.set()

        state, attempts, error = await delivery.deliver(
            self._http,
            url,
            claim.body,
            attempts=claim.attempts,
            first_try_ms=claim.first_try_ms,
            give_up_s=self.give_up_s,
            on_failure=failed,
        )
        kept = await self._settle(
            self.outbox.finish, claim.key, claim.target, state, attempts, error
        )
        if state == "delivered":
            self.sent += 1
            log.info("[ALERTS] delivered %s to %s", claim.key, mask_url(url))
        else:
            log.warning("[ALERTS] gave up on %s to %s: %s", claim.key, mask_url(url), error)
        if not kept:
            log.warning("[ALERTS] lost the lease of %s while delivering it", claim.key)

    async def _settle(self, write: Any, *args: Any) -> Any:
        """Write a delivery's outcome, retrying while the database is down: an outcome lost
        here would have the alert sent again once the lease runs out."""
        pause = 0.5
        while True:
            try:
                result = await asyncio.to_thread(write, *args)
            except Exception as error:
                self._degraded(error)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)
                continue
            self._wake.set()  # the feed shows it at once
            return result

    async def close(self) -> None:
        """Stop delivering and hand our leases back, so a restart takes them up at once."""
        for task in list(self._inflight.values()):
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.outbox.release)
        if self._http is not None:
            await self._http.aclose()
        await asyncio.to_thread(self.outbox.engine.dispose)


def _seen(record: dict[str, Any]) -> dict[str, Any]:
    """What the rules compare: the last status and cost of a workflow."""
    return {"status": record.get("status"), "cost_usd": record.get("cost_usd")}
