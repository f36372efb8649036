"""A browser on replica B sees a workflow written on host A's disk, through Redis."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from redis_server import MISSING, REDIS_SERVER, AgentHost, RedisServer

from livewatch.testing import LiveServer

from .helpers import expect_live, row


@pytest.fixture
def two_hosts_two_replicas(tmp_path: Path) -> Iterator[tuple[AgentHost, LiveServer]]:
    """Hosts A and B publishing to one Redis; yields host A and replica B."""
    if REDIS_SERVER is None:
        pytest.skip(MISSING)
    redis = RedisServer(tmp_path).start()
    hosts = []
    for label in ("host-a", "host-b"):
        (tmp_path / label).mkdir()
        host = AgentHost(tmp_path / label, redis, label, stale_after_s=10)
        host.agents.write("same0001", issue_number=1)  # on both hosts: shown once per host
        hosts.append(host)
    hosts[0].agents.write("aaaa1111", issue_number=2)
    replicas = []
    for name in ("replica-a", "replica-b"):
        (tmp_path / name).mkdir()
        replicas.append(LiveServer(tmp_path / name, args=["--broker", redis.url]))
    processes = [*hosts, *replicas]
    try:
        with ThreadPoolExecutor(len(processes)) as pool:
            list(pool.map(lambda p: p.start(), processes))
        yield hosts[0], replicas[1]
    finally:
        for process in processes:
            process.stop()
        redis.stop()


def test_a_write_on_host_a_shows_up_in_a_browser_on_replica_b(
    two_hosts_two_replicas: tuple[AgentHost, LiveServer], page: Page
) -> None:
    host_a, replica_b = two_hosts_two_replicas
    page.goto(replica_b.url)
    expect_live(page)
    expect(row(page, "aaaa1111")).to_be_visible()
    expect(row(page, "same0001@host-a")).to_be_visible()
    expect(row(page, "same0001@host-b")).to_be_visible()

    host_a.agents.write("eeee5555", issue_number=7)
    expect(row(page, "eeee5555")).to_be_visible(timeout=5_000)
    expect(row(page, "eeee5555")).to_contain_text("#7")
