"""A later start's backfill: phases that ran while livewatch was down still reach the history."""

from __future__ import annotations

from pathlib import Path

from livewatch.demo.writer import AgentsWriter
from livewatch.history.backfill import backfill
from livewatch.store.database import database_url, open_engine
from livewatch.store.history import HistoryStore


def phases_of(db: str, adw_id: str) -> dict[str, tuple[str, str | None]]:
    history = HistoryStore(open_engine(db))
    (run,) = [r for r in history.runs(limit=10)["runs"] if r["adw_id"] == adw_id]
    return {p["phase"]: (p["started_at"], p["ended_at"]) for p in run["phases"]}


def test_an_open_run_is_read_again_and_an_ended_one_is_not(tmp_path: Path) -> None:
    agents = AgentsWriter(tmp_path / "agents")
    agents.write("aaaa1111")
    agents.advance("aaaa1111")  # plan
    agents.write("bbbb2222", status="completed")
    db = database_url(tmp_path / "lw.db")
    assert backfill(agents.root, db) == 2  # the first start: every folder
    assert set(phases_of(db, "aaaa1111")) == {"plan"}

    # Down meanwhile: the open run went on through two phases, the ended one was touched.
    agents.advance("aaaa1111")  # build
    agents.advance("aaaa1111")  # test
    agents.update("bbbb2222", issue_number=99)

    assert backfill(agents.root, db) == 1  # only the run that was still open
    phases = phases_of(db, "aaaa1111")
    assert set(phases) == {"plan", "build", "test"}
    assert phases["plan"][1] == phases["build"][0]  # plan ended where build began
    assert phases["build"][1] == phases["test"][0]
    assert phases["plan"][1] is not None and phases["test"][1] is None  # test still runs
