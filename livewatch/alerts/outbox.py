"""The alert outbox: each transition's alert stored once, each delivery claimed by one sender.

Replicas sharing PostgreSQL (or restarts of one process on SQLite) all write the same alert
key; `INSERT ... ON CONFLICT DO NOTHING` keeps one row. A sender claims due deliveries in a
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) by setting
a lease; it renews the lease while it retries and clears it when done. A sender that dies
leaves its deliveries to whoever claims them once the lease runs out. Every method blocks:
call them in a thread.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from livewatch.alerts.rules import NOTIFY_EVENTS, Alert
from livewatch.store.database import migrate
from livewatch.store.database import writing as _writing
from livewatch.store.schema import alert_deliveries, alerts

LEASE_S = 30.0  # a dead sender's deliveries wait at most this long for another


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def target_of(url: str) -> str:
    """A webhook's name in the database: a digest, since the URL itself is a secret."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Claim:
    """One delivery this sender holds the lease of."""

    key: str
    target: str
    body: dict[str, Any]
    attempts: int
    first_try_ms: int


class Outbox:
    """The alerts and alert_deliveries tables, seen by one sender (`owner`)."""

    def __init__(self, engine: Engine, owner: str, targets: Iterable[str]) -> None:
        self.engine = engine
        self.owner = owner
        self.targets = sorted(set(targets))
        # This process's writers take turns here rather than in SQLite's busy handler, which
        # sleeps up to 100 ms a try: a burst of 200 stalls would wait seconds on it.
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Bring the schema up to date (idempotent; the event store does it too)."""
        migrate(self.engine)

    def add(self, found: list[Alert]) -> int:
        """Store alerts and one pending delivery per webhook; a key stored before is kept.

        Returns how many alerts were new here (another replica may have stored the rest).
        """
        if not found:
            return 0
        created = now_ms()
        new = 0
        with self.writing() as connection:
            for alert in found:
                stored = connection.execute(
                    self._insert(alerts).on_conflict_do_nothing(),
                    {
                        "key": alert.key,
                        "event": alert.event,
                        "adw_id": alert.adw_id,
                        "body": json.dumps(alert.body),
                        "created_ms": created,
                    },
                )
                new += stored.rowcount == 1
                # Seen before (by another replica, or before a restart): a webhook that has
                # its delivery keeps it, so nothing is ever sent twice to one webhook.
                for target in self.targets:
                    connection.execute(
                        self._insert(alert_deliveries).on_conflict_do_nothing(),
                        {"key": alert.key, "target": target, "state": "pending", "attempts": 0},
                    )
        return new

    def claim(self, limit: int = 64) -> list[Claim]:
        """Take the lease of up to `limit` due deliveries to our webhooks."""
        if not self.targets:
            return []
        now = now_ms()
        d = alert_deliveries.c
        due = (
            select(d.key, d.target, d.attempts, d.first_try_ms, alerts.c.body)
            .join(alerts, alerts.c.key == d.key)
            .where(
                d.state == "pending",
                d.target.in_(self.targets),
                or_(d.lease_until_ms.is_(None), d.lease_until_ms < now),
            )
            .order_by(alerts.c.created_ms)
            .limit(limit)
            .with_for_update(of=alert_deliveries, skip_locked=True)
        )
        with self.writing() as connection:
            rows = connection.execute(due).all()
            claims = []
            for row in rows:
                first = row.first_try_ms or now
                connection.execute(
                    update(alert_deliveries)
                    .where(d.key == row.key, d.target == row.target)
                    .values(
                        lease_owner=self.owner,
                        lease_until_ms=now + int(LEASE_S * 1000),
                        first_try_ms=first,
                    )
                )
                claims.append(Claim(row.key, row.target, json.loads(row.body), row.attempts, first))
        return claims

    def renew(self, held: Iterable[tuple[str, str]]) -> None:
        """Extend the leases of deliveries still being retried here."""
        pairs = list(held)
        if not pairs:
            return
        with self.writing() as connection:
            connection.execute(
                self._ours(pairs).values(lease_until_ms=now_ms() + int(LEASE_S * 1000))
            )

    def attempted(self, key: str, target: str, attempts: int, error: str | None) -> None:
        """Record a failed attempt (the panel shows how delivery goes while it retries)."""
        with self.writing() as connection:
            connection.execute(
                self._ours([(key, target)]).values(attempts=attempts, last_error=error)
            )

    def finish(self, key: str, target: str, state: str, attempts: int, error: str | None) -> bool:
        """Settle a delivery as `delivered` or `failed`; False if our lease was lost."""
        with self.writing() as connection:
            done = connection.execute(
                self._ours([(key, target)]).values(
                    state=state,
                    attempts=attempts,
                    last_error=error,
                    done_ms=now_ms(),
                    lease_owner=None,
                    lease_until_ms=None,
                )
            )
        return done.rowcount == 1

    def release(self) -> None:
        """Give up our leases (at shutdown), so a restart retries them at once."""
        d = alert_deliveries.c
        with self.writing() as connection:
            connection.execute(
                update(alert_deliveries)
                .where(d.lease_owner == self.owner, d.state == "pending")
                .values(lease_owner=None, lease_until_ms=None)
            )

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest alerts with how their delivery went, newest first (for the panel)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(alerts).order_by(alerts.c.created_ms.desc(), alerts.c.key).limit(limit)
            ).all()
            keys = [row.key for row in rows]
            d = alert_deliveries.c
            deliveries = connection.execute(
                select(d.key, d.state, d.attempts, d.last_error).where(d.key.in_(keys))
            ).all()
        by_key: dict[str, list[Any]] = {}
        for delivery in deliveries:
            by_key.setdefault(delivery.key, []).append(delivery)
        return [
            feed_row(row.key, json.loads(row.body), row.created_ms, by_key.get(row.key, []))
            for row in rows
        ]

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with self._lock, _writing(self.engine) as connection:
            yield connection

    def _ours(self, pairs: list[tuple[str, str]]) -> Any:
        d = alert_deliveries.c
        return update(alert_deliveries).where(
            d.lease_owner == self.owner,
            or_(*(and_(d.key == key, d.target == target) for key, target in pairs)),
        )

    def _insert(self, table: Any) -> Any:
        dialect = self.engine.dialect.name
        return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def delivery_of(states: list[str]) -> str:
    """One word for an alert's deliveries: pending while any is, failed if any gave up."""
    if not states:
        return "none"  # no webhook configured: shown in the panel only
    if "pending" in states:
        return "pending"
    return "failed" if "failed" in states else "delivered"


def feed_row(
    key: str, body: dict[str, Any], created_ms: int, deliveries: list[Any]
) -> dict[str, Any]:
    """An alert as the panel, `/api/alerts` and browser notifications show it."""
    errors = [d.last_error for d in deliveries if d.last_error]
    return {
        "key": key,
        "event": body.get("event"),
        "adw_id": body.get("adw_id"),
        "status": body.get("status"),
        "phase": body.get("phase"),
        "text": body.get("text"),
        "url": body.get("url"),
        "created_ms": created_ms,
        "delivery": delivery_of([d.state for d in deliveries]),
        "attempts": sum(d.attempts for d in deliveries),
        "last_error": errors[-1] if errors else None,
        "notify": body.get("event") in NOTIFY_EVENTS,  # the browser's opt-in notifications
    }
