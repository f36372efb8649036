"""The `[WS] Broadcasted` line: info only when someone listened, at most one a second."""

from __future__ import annotations

import logging

import pytest

from livewatch.hub.broadcast_log import BroadcastLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_a_change_nobody_received_is_a_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="livewatch.hub")
    BroadcastLog("workflows").broadcasted(1, clients=0)
    assert lines(caplog, logging.INFO) == []
    assert lines(caplog, logging.DEBUG) == ["[WS] Broadcasted 1 workflows update to 0 clients"]


def test_the_seeds_line_when_a_client_received_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="livewatch.hub")
    BroadcastLog("workflows").broadcasted(1, clients=3)
    assert lines(caplog, logging.INFO) == ["[WS] Broadcasted 1 workflows update to 3 clients"]


def test_a_burst_is_one_line_a_second_with_its_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="livewatch.hub")
    clock = Clock()
    broadcast = BroadcastLog("events", clock=clock)
    for _ in range(1000):  # 1,000 changes of 2 items in 0.999 s
        broadcast.broadcasted(2, clients=5)
        clock.now += 0.000999
    clock.now = 101.0
    broadcast.broadcasted(2, clients=5)
    assert lines(caplog, logging.INFO) == [
        "[WS] Broadcasted 2 events update to 5 clients",
        "[WS] Broadcasted 2000 events update to 5 clients (1000 changes since the last line)",
    ]
