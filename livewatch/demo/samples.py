"""The transcripts of the sample `agents/` tree, made from one table so they stay consistent.

`write_samples()` rewrote every sample `raw_output.jsonl` once; the results are committed
data. Finished agents keep the outcome they always had (turns, cost, duration, error), which
tests and the detail page rely on. The agent still at work in a running workflow has a partial
transcript, up to the turn its phase log reports, and no `result` line yet.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livewatch.demo.simulator import MODELS, task_of
from livewatch.demo.stream import Conversation
from livewatch.demo.writer import AgentsWriter

SONNET, OPUS = MODELS["base"], MODELS["heavy"]
ORDER = ("sdlc_planner", "sdlc_implementor", "test_runner", "reviewer", "documenter")
# A finished run of each agent: turns, cost (USD), duration (ms).
DONE: dict[str, tuple[int, float, int]] = {
    "sdlc_planner": (12, 0.3871, 73_356),
    "sdlc_implementor": (31, 1.1243, 189_503),
    "test_runner": (17, 0.5562, 103_921),
    "reviewer": (9, 0.4418, 55_017),
    "documenter": (7, 0.2135, 42_791),
}
FAILED_TESTS = "3 of 142 tests still fail after 3 attempts: "
FAILING = ("test_profile_avatar_none", "test_profile_render", "test_avatar_fallback")


@dataclass(frozen=True)
class Sample:
    """One sample workflow: how many agents finished, and the one at work (at which turn)."""

    title: str
    model: str
    finished: int  # the first `finished` agents of ORDER ran to the end
    running_turn: int | None = None  # the next agent is at this turn, or none is running
    failed: bool = False  # the last finished agent failed
    hazards: str | None = None  # the agent whose run shows a fake secret and markup


SAMPLES: dict[str, Sample] = {
    "0d9b6c3f": Sample("Charts show times shifted by the UTC offset", SONNET, 4, 3),
    "2c6e8d51": Sample("Rename APP_* environment variables", SONNET, 1, 15),
    "4b7d2e90": Sample("Login redirects in a loop after session expiry", OPUS, 1, 15),
    "7e2a9f14": Sample("Dark mode toggle in settings", OPUS, 3, 4),
    "93f0b47e": Sample("Profile page crashes when avatar is null", SONNET, 3, failed=True),
    # The planner has reported (its $0.39 shows on the detail page); the plan phase goes on.
    "a1f3c9e2": Sample("Add CSV export to the reports page", SONNET, 1),
    "b84a1f6c": Sample("Invite users in bulk from a CSV", SONNET, 1, 15),
    "c38e51a7": Sample("Bump fastapi to 0.115", SONNET, 2, 8),
    "e5c1a8d2": Sample("Retry failed webhooks with backoff", OPUS, 5, hazards="reviewer"),
    "f61d3e28": Sample("Drop Python 3.10 support", OPUS, 3, 4),
}
# 2c6e8d51's state file is broken on purpose; these are the fields it shows before the break.
BROKEN_STATE: dict[str, Any] = {
    "issue_number": "131",
    "branch_name": "chore-issue-131-adw-2c6e8d51-rename-env-vars",
    "plan_file": "specs/issue-131-adw-2c6e8d51-sdlc_planner-rename-env-vars.md",
    "issue_class": "/chore",
}


def _state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((folder / "adw_state.json").read_text())
    except (OSError, ValueError):
        return BROKEN_STATE
    return state if isinstance(state, dict) else BROKEN_STATE


def sample_runs(adw_id: str, sample: Sample, state: dict[str, Any]) -> dict[str, list[dict]]:
    """Each agent's transcript lines for one sample workflow."""
    task = dataclasses.replace(task_of(adw_id, state), title=sample.title)
    if sample.failed:
        task = dataclasses.replace(task, failing_tests=FAILING)
    runs: dict[str, list[dict]] = {}
    for index, agent in enumerate(ORDER[: sample.finished + (sample.running_turn is not None)]):
        turns, cost, duration = DONE[agent]
        options: dict[str, Any] = {"task": task, "seed": adw_id, "model": sample.model}
        options["hazards"] = sample.hazards == agent
        failed = sample.failed and index == sample.finished - 1
        if failed:  # the test runner that gave up: its outcome shows on the detail page
            turns, cost, duration = 38, 1.9034, 412_877
            options |= {"fail": True, "result_text": FAILED_TESTS + ", ".join(FAILING)}
        if index < sample.finished:
            talk = Conversation(agent, turns=turns, cost_usd=cost, duration_ms=duration, **options)
            runs[agent] = talk.lines()
        else:
            talk = Conversation(agent, turns=max(turns, sample.running_turn or 0), **options)
            runs[agent] = talk.partial(sample.running_turn or 0)
    return runs


def write_samples(root: Path) -> list[Path]:
    """Rewrite the transcripts of every sample workflow under `root`; the files written."""
    writer = AgentsWriter(root)
    written = []
    for adw_id, sample in SAMPLES.items():
        for agent, lines in sample_runs(adw_id, sample, _state(root / adw_id)).items():
            path = root / adw_id / agent / "raw_output.jsonl"
            path.unlink(missing_ok=True)
            written.append(writer.stream(adw_id, agent, lines))
    return written
