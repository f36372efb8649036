"""The outbox on a real SQLite file: one row per transition, one sender per delivery."""

from __future__ import annotations

from pathlib import Path

import pytest

from livewatch.alerts import outbox as outbox_module
from livewatch.alerts.outbox import Outbox, target_of
from livewatch.alerts.rules import Alert
from livewatch.store.database import database_url, open_engine

URL = "https://hooks.slack.com/services/T0/B0/secret"


def alert(key: str = "a1b2c3d4:failed:build") -> Alert:
    return Alert(key, "failed", "a1b2c3d4", {"event": "failed", "adw_id": "a1b2c3d4"})


def replica(db: Path, owner: str) -> Outbox:
    box = Outbox(open_engine(database_url(db)), owner, [target_of(URL)])
    box.prepare()
    return box


@pytest.fixture
def boxes(tmp_path: Path) -> list[Outbox]:
    made = [replica(tmp_path / "alerts.db", "a"), replica(tmp_path / "alerts.db", "b")]
    yield made
    for box in made:
        box.engine.dispose()


def test_the_same_transition_is_stored_once_by_every_replica(boxes: list[Outbox]) -> None:
    a, b = boxes
    assert a.add([alert()]) == 1
    assert b.add([alert()]) == 0  # the other replica saw the same transition
    assert [row["key"] for row in a.recent()] == ["a1b2c3d4:failed:build"]
    assert a.recent()[0]["delivery"] == "pending"


def test_a_delivery_is_claimed_by_one_replica_and_never_again_once_delivered(
    boxes: list[Outbox],
) -> None:
    a, b = boxes
    a.add([alert("k1"), alert("k2")])
    claimed_a, claimed_b = a.claim(), b.claim()
    assert sorted(c.key for c in claimed_a) == ["k1", "k2"] and claimed_b == []
    assert b.finish("k1", target_of(URL), "delivered", 1, None) is False  # not b's lease
    assert a.finish("k1", target_of(URL), "delivered", 1, None) is True
    a.release()  # k2 goes back (a shutdown)
    assert [c.key for c in b.claim()] == ["k2"]
    assert a.claim() == [] and b.claim() == []  # k1 is delivered, k2 leased by b
    states = {row["key"]: row["delivery"] for row in a.recent()}
    assert states == {"k1": "delivered", "k2": "pending"}


def test_a_dead_senders_lease_runs_out(
    boxes: list[Outbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = boxes
    monkeypatch.setattr(outbox_module, "LEASE_S", 0.0)  # leases end at once
    a.add([alert()])
    [first] = a.claim()
    a.attempted(first.key, first.target, 1, "HTTP 500")
    [taken] = b.claim()
    assert (taken.attempts, taken.first_try_ms) == (1, first.first_try_ms)  # the budget goes on
    assert b.finish(taken.key, taken.target, "failed", 3, "gave up") is True
    row = b.recent()[0]
    assert (row["delivery"], row["attempts"], row["last_error"]) == ("failed", 3, "gave up")


def test_without_webhooks_alerts_are_kept_for_the_panel_only(tmp_path: Path) -> None:
    box = Outbox(open_engine(database_url(tmp_path / "x.db")), "solo", [])
    box.prepare()
    box.add([alert()])
    assert box.claim() == []
    assert box.recent()[0]["delivery"] == "none"
    box.engine.dispose()
