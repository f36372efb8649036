"""Playwright in real Chromium against a real `livewatch serve` child process.

Run on its own (`python -m pytest tests/e2e`): pytest-playwright's sync fixtures and
pytest-asyncio do not share one run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livewatch.testing import LiveServer, chromium_launch_args

from .helpers import REPO

SAMPLE_AGENTS = REPO / "agents"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium when there is one, else Playwright's own download."""
    return {**browser_type_launch_args, **chromium_launch_args()}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    """A copy of the repo's sample workflows, free to change."""
    target = tmp_path / "agents"
    shutil.copytree(SAMPLE_AGENTS, target)
    return target


@pytest.fixture
def server(agents_dir: Path) -> Iterator[LiveServer]:
    """livewatch serving the sample workflows, with issue links for acme/shop."""
    live = LiveServer(agents_dir, env={"LIVEWATCH_GITHUB_REPO": "acme/shop"}).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def empty_server(livewatch_server: LiveServer) -> LiveServer:
    """The plugin's own fixture, as users get it: livewatch on an empty temp agents dir."""
    return livewatch_server
