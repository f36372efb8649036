"""The sample agents/ tree: realistic transcripts that agree with the phase logs and the table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from livewatch.demo.samples import write_samples
from livewatch.demo.simulator import sample_agents_dir
from livewatch.demo.writer import AGENT_OF_PHASE

SAMPLES = Path(__file__).resolve().parents[2] / "agents"
PHASE_OF_AGENT = {agent: phase for phase, agent in AGENT_OF_PHASE.items()}
TRANSCRIPTS = sorted(SAMPLES.glob("*/*/raw_output.jsonl"))


def read_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), f"{path}: the last line is whole"
    return [json.loads(line) for line in text.splitlines()]


def working(adw_id: str, agent: str) -> bool:
    """What the phase log says: is this agent still at work?"""
    log = SAMPLES / adw_id / f"adw_{PHASE_OF_AGENT[agent]}_iso" / "execution.log"
    return "still working" in log.read_text().splitlines()[-1]


def test_the_samples_are_the_packaged_samples() -> None:
    assert sample_agents_dir().resolve() == SAMPLES.resolve()
    assert len(TRANSCRIPTS) >= 25


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}")
def test_each_transcript_is_a_valid_stream(path: Path) -> None:
    lines = read_lines(path)
    adw_id, agent = path.parts[-3], path.parts[-2]
    assert lines[0]["type"] == "system" and lines[0]["subtype"] == "init"
    assert {line["type"] for line in lines} <= {"system", "assistant", "user", "result"}
    assert len({line["session_id"] for line in lines}) == 1
    assert sum(line["type"] == "assistant" for line in lines) > 3
    if working(adw_id, agent):
        assert all(line["type"] != "result" for line in lines), "still at work: no result yet"
    else:
        assert lines[-1]["type"] == "result", "a finished agent ends with its result"
        assert [line["type"] for line in lines].count("result") == 1
        messages = {line["message"]["id"] for line in lines if line["type"] == "assistant"}
        assert lines[-1]["num_turns"] == len(messages)


def test_every_agent_that_ran_has_a_transcript() -> None:
    for folder in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        for log in folder.glob("adw_*_iso/execution.log"):
            agent = AGENT_OF_PHASE[log.parent.name.removeprefix("adw_").removesuffix("_iso")]
            if f"Running {agent}" in log.read_text():
                assert (folder / agent / "raw_output.jsonl").is_file(), f"{folder.name}/{agent}"


def test_the_outcomes_tests_and_pages_show_are_kept() -> None:
    def last(adw_id: str, agent: str) -> dict[str, Any]:
        return read_lines(SAMPLES / adw_id / agent / "raw_output.jsonl")[-1]

    failed = last("93f0b47e", "test_runner")
    assert (failed["is_error"], failed["num_turns"], failed["total_cost_usd"]) == (
        True,
        38,
        1.9034,
    )
    assert failed["result"].startswith("3 of 142 tests still fail after 3 attempts")
    assert last("a1f3c9e2", "sdlc_planner")["total_cost_usd"] == 0.3871
    spent = sum(last("93f0b47e", a)["total_cost_usd"] for a in ("sdlc_planner", "sdlc_implementor"))
    assert round(spent + failed["total_cost_usd"], 2) == 3.41  # the failed row's $3.41


def test_the_samples_show_a_secret_markup_and_a_failing_tool() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in TRANSCRIPTS)
    assert "Authorization: Bearer sk-ant-demo-0000000000000000" in text
    assert "<script>alert(1)</script>" in text
    assert '"is_error":true' in text


def test_the_samples_match_their_generator(tmp_path: Path) -> None:
    """The committed data is what `write_samples` makes: regenerate it after changing either."""
    copy = tmp_path / "agents"
    shutil.copytree(SAMPLES, copy)
    for path in write_samples(copy):
        relative = path.relative_to(copy)
        assert path.read_bytes() == (SAMPLES / relative).read_bytes(), str(relative)
