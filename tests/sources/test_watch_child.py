"""The watch child's filter: transcripts pass at once, everything else as watchfiles decides."""

from __future__ import annotations

from watchfiles import Change

from livewatch.sources.watch_child import GatheredFirst

TRANSCRIPT = "/agents/a1b2c3d4/sdlc_implementor/raw_output.jsonl"


def test_transcripts_pass_and_the_default_rules_still_hold_for_the_rest() -> None:
    keep = GatheredFirst("/raw_output.jsonl")
    assert keep(Change.modified, TRANSCRIPT)
    assert keep(Change.modified, "/agents/a1b2c3d4/adw_state.json")
    assert not keep(Change.modified, "/agents/a1b2c3d4/.adw_state.json.swp")
    assert not keep(Change.added, "/agents/a1b2c3d4/.git/index")
    assert not keep(Change.added, "/agents/a1b2c3d4/__pycache__/x.pyc")
