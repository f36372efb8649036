"""Pages load from folders: the bundled `pages/`, and a team's own with `--pages`."""

from __future__ import annotations

import textwrap
from pathlib import Path

from livewatch.page_loader import bundled_pages_dir
from livewatch.testing import LiveServer

ROOT = Path(__file__).resolve().parents[1]


def test_the_bundled_pages_are_the_repos_pages_folder() -> None:
    assert bundled_pages_dir() == ROOT / "pages"


def test_a_teams_own_pages_are_served_and_listed(tmp_path: Path) -> None:
    team = tmp_path / "team_pages"
    team.mkdir()
    (team / "hello.py").write_text(
        textwrap.dedent(
            '''
            from nicegui import ui


            @ui.page("/hello")
            def hello() -> None:
                """Our team's own page."""
                ui.label("hi from the team")
            '''
        )
    )
    (team / "_private.py").write_text("raise RuntimeError('never imported')\n")
    agents = tmp_path / "agents"
    agents.mkdir()
    server = LiveServer(agents, args=["--pages", str(team)]).start()
    try:
        page = server.get("/hello")
        assert page.status_code == 200
        assert "hi from the team" in page.text
        routes = server.get("/api/routes").json()["routes"]
        assert {"path": "/hello", "method": "GET", "handler": "hello",
                "description": "Our team's own page."} in routes  # fmt: skip
        assert "loaded pages from" in server.log() and "hello" in server.log()
    finally:
        server.stop()
