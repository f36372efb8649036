"""The demo's agents talk: between steps, the current agent of each running workflow streams."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from livewatch.demo.simulator import Simulator, sample_agents_dir


def tree(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name / "agents"
    shutil.copytree(sample_agents_dir(), target)
    return target


def play(agents: Path, rounds: int, seed: int = 11) -> tuple[list[str], int]:
    """Steps, with three chatters between each; what the steps did and the lines chattered."""
    simulator = Simulator(agents, seed=seed)
    did, said = [], 0
    for _ in range(rounds):
        did.append(simulator.step())
        said += sum(simulator.chatter() for _ in range(3))
    return did, said


def transcripts(agents: Path) -> dict[str, bytes]:
    return {str(p.relative_to(agents)): p.read_bytes() for p in agents.glob("*/*/raw_output.jsonl")}


def test_chatter_is_modest_and_the_demo_is_deterministic(tmp_path: Path) -> None:
    first, second = tree(tmp_path, "one"), tree(tmp_path, "two")
    did, said = play(first, 120)
    assert play(second, 120) == (did, said)
    assert transcripts(first) == transcripts(second)
    assert 360 <= said <= 3 * 360  # one to three lines a chatter
    assert Simulator(first).chatter_interval is not None
    assert 0.2 <= Simulator(first).chatter_interval <= 1.0  # type: ignore[operator]


def test_a_running_sample_agent_carries_on_its_transcript(tmp_path: Path) -> None:
    agents = tree(tmp_path, "one")
    path = agents / "4b7d2e90" / "sdlc_implementor" / "raw_output.jsonl"
    before = path.read_bytes()
    simulator = Simulator(agents, seed=1)
    talk = simulator._talk("4b7d2e90", "sdlc_implementor")
    simulator.agents.stream("4b7d2e90", "sdlc_implementor", talk.take(4))

    after = path.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    lines = [json.loads(line) for line in after.splitlines()]
    assert [line["type"] for line in lines].count("system") == 1  # the same run, not a new one
    assert {line["session_id"] for line in lines} == {lines[0]["session_id"]}


def test_every_agent_ends_with_one_result(tmp_path: Path) -> None:
    agents = tree(tmp_path, "one")
    simulator = Simulator(agents, seed=5, max_workflows=12)
    for _ in range(150):
        simulator.step()
        simulator.chatter()
    done = [i for i in simulator.ids() if not simulator._active(i) and simulator._valid(i)]
    assert done
    for adw_id in done:
        for path in (agents / adw_id).glob("*/raw_output.jsonl"):
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            kinds = [line["type"] for line in lines]
            assert kinds[-1] == "result", path
            assert kinds.count("result") == kinds.count("system"), "one result per run"
