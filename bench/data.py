"""Build a realistic ADW agents tree fast, and change one workflow the way an agent does.

Each workflow is `agents/<adw_id>/` with `adw_state.json`, 1-6 `adw_<phase>_iso/execution.log`
folders (the phases it ran, in order) and 1-4 `<agent>/raw_output.jsonl` streams ending in a
`result` line. Every mtime is set to a moment 1 h to 30 days ago, so the tree reads as mostly
idle history, as a real one does, and no record flips from "running" to "idle" mid-benchmark.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from livewatch.demo.writer import AGENT_OF_PHASE
from livewatch.hub.records import PHASES

EXTRA_AGENTS: tuple[str, ...] = ("issue_classifier", "branch_generator", "ops", "pr_creator")
ISSUE_CLASSES: tuple[str, ...] = ("/feature", "/bug", "/chore")
GITHUB_REPO = "acme/agentic-app"


@dataclass(frozen=True)
class Tree:
    """A generated agents dir and the ids in it."""

    agents_dir: Path
    ids: list[str]
    files: int
    seconds: float


def _ids(rng: random.Random, count: int) -> list[str]:
    ids: set[str] = set()
    while len(ids) < count:
        ids.add(f"{rng.getrandbits(32):08x}")
    return sorted(ids)


def state_body(
    adw_id: str, issue_number: int, phases: int, rng: random.Random
) -> dict[str, object]:
    issue_class = rng.choice(ISSUE_CLASSES)
    slug = issue_class.strip("/")
    return {
        "adw_id": adw_id,
        "issue_number": str(issue_number),
        "branch_name": f"{slug}-issue-{issue_number}-adw-{adw_id}-add-widget-{issue_number % 97}",
        "plan_file": f"specs/issue-{issue_number}-adw-{adw_id}-sdlc_planner-add-widget.md",
        "issue_class": issue_class,
        "worktree_path": f"/home/dev/repo/trees/{adw_id}",
        "backend_port": 9100 + issue_number % 15,
        "frontend_port": 9200 + issue_number % 15,
        "model_set": rng.choice(("base", "base", "heavy")),
        "all_adws": [f"adw_{p}_iso" for p in PHASES[:phases]],
    }


def _log_lines(phase: str, stamp: str, count: int, done: bool) -> str:
    lines = [f"{stamp} - INFO - Starting {phase} phase"]
    lines += [f"{stamp} - INFO - {phase}: step {i} of {count}, working" for i in range(1, count)]
    if done:
        lines.append(f"{stamp} - INFO - {phase.capitalize()} phase completed successfully")
    return "\n".join(lines) + "\n"


def _raw_output(agent: str, rng: random.Random, is_error: bool) -> str:
    session = f"{rng.getrandbits(64):016x}"
    events: list[dict[str, object]] = [
        {"type": "system", "subtype": "init", "session_id": session, "model": "claude-sonnet"},
        {
            "type": "assistant",
            "session_id": session,
            "message": {"content": [{"type": "text", "text": f"{agent}: reading the issue"}]},
        },
        {
            "type": "user",
            "session_id": session,
            "message": {
                "content": [{"type": "tool_result", "content": "ok " * rng.randint(5, 40)}]
            },
        },
        {
            "type": "result",
            "subtype": "error" if is_error else "success",
            "is_error": is_error,
            "duration_ms": rng.randint(5_000, 600_000),
            "num_turns": rng.randint(1, 40),
            "total_cost_usd": round(rng.uniform(0.01, 2.5), 4),
            "result": "failed" if is_error else "done",
            "session_id": session,
        },
    ]
    return "".join(json.dumps(e) + "\n" for e in events)


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def build_tree(root: Path, count: int, *, seed: int = 1234) -> Tree:
    """Create `root/agents` with `count` workflows; deterministic for a given seed."""
    started = time.perf_counter()
    rng = random.Random(seed)
    agents_dir = root / "agents"
    agents_dir.mkdir(parents=True, exist_ok=True)
    ids = _ids(rng, count)
    now = time.time()
    files = 0
    for index, adw_id in enumerate(ids):
        folder = agents_dir / adw_id
        folder.mkdir()
        phases = rng.randint(1, 6)
        finished = phases == 6 and rng.random() < 0.8
        issue_number = 1000 + index
        mtime = now - rng.uniform(3600, 30 * 86400)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(mtime))
        body = state_body(adw_id, issue_number, phases, rng)
        _write(folder / "adw_state.json", json.dumps(body, indent=2))
        made = [folder / "adw_state.json"]
        for number, phase in enumerate(PHASES[:phases], start=1):
            sub = folder / f"adw_{phase}_iso"
            sub.mkdir()
            done = number < phases or finished
            _write(sub / "execution.log", _log_lines(phase, stamp, rng.randint(3, 12), done))
            made += [sub / "execution.log", sub]
        agents = [AGENT_OF_PHASE[p] for p in PHASES[:phases]][: rng.randint(1, 4)]
        while len(agents) < 1:
            agents.append(rng.choice(EXTRA_AGENTS))
        if rng.random() < 0.3 and len(agents) < 4:
            agents.append(rng.choice([a for a in EXTRA_AGENTS if a not in agents]))
        failed = rng.random() < 0.05
        for number, agent in enumerate(agents):
            sub = folder / agent
            sub.mkdir()
            is_error = failed and number == len(agents) - 1
            _write(sub / "raw_output.jsonl", _raw_output(agent, rng, is_error))
            made += [sub / "raw_output.jsonl", sub]
        made.append(folder)
        for path in made:  # files before their folders: writing a file bumps its folder
            os.utime(path, (mtime, mtime))
        files += len(made)
    return Tree(agents_dir, ids, files, time.perf_counter() - started)


class Mutator:
    """Rewrite one workflow's state with a new issue number: temp file, then `os.replace`.

    The temp file is staged outside the agents tree, so the rename is the only file event and
    the clock can start just before it.
    """

    def __init__(self, agents_dir: Path) -> None:
        self.agents_dir = agents_dir
        self.staging = agents_dir.parent / "staging"
        self.staging.mkdir(exist_ok=True)
        self.counter = 0

    def prepare(self, adw_id: str) -> tuple[Path, Path, int]:
        """Write the temp file with a fresh issue number; returns (tmp, target, number)."""
        self.counter += 1
        number = 900_000 + self.counter
        path = self.agents_dir / adw_id / "adw_state.json"
        body = json.loads(path.read_text(encoding="utf-8"))
        body["issue_number"] = str(number)
        tmp = self.staging / f"{adw_id}.json"
        tmp.write_text(json.dumps(body, indent=2), encoding="utf-8")
        return tmp, path, number

    @staticmethod
    def commit(tmp: Path, path: Path) -> None:
        os.replace(tmp, path)
