"""A pytest plugin: a real livewatch server on a free port, with a temp agents dir.

Registered under the `pytest11` entry point, so `pip install livewatch` gives every test
suite a `livewatch_server` fixture:

    def test_new_workflow_shows_up(livewatch_server, page):
        livewatch_server.agents.write("abcd1234", issue_number=7)
        page.goto(livewatch_server.url)
        expect(page.locator('[data-adw-id="abcd1234"]')).to_be_visible()
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from livewatch.testing import LiveServer


@pytest.fixture
def livewatch_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A running livewatch on a free port, watching an empty temp agents dir."""
    agents = tmp_path / "agents"
    agents.mkdir()
    server = LiveServer(agents).start()
    try:
        yield server
    finally:
        server.stop()
