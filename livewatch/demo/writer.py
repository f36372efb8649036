"""Write ADW workflow folders the way real agents do: for tests, benchmarks and demo mode."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livewatch.demo.stream import dumps
from livewatch.hub.records import PHASES

AGENT_OF_PHASE = {
    "plan": "sdlc_planner",
    "build": "sdlc_implementor",
    "test": "test_runner",
    "review": "reviewer",
    "document": "documenter",
    "ship": "shipper",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _append_line(fd: int, data: bytes) -> None:
    """One line in one write(), as a live agent's stdout lands (looping only on a short write)."""
    while data:
        data = data[os.write(fd, data) :]


def _replace(path: Path, text: str) -> None:
    """Write via a temp file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class AgentsWriter:
    """An agents dir you can populate and move forward, one realistic step at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, adw_id: str) -> Path:
        return self.root / adw_id

    def write(self, adw_id: str, *, issue_number: int | str | None = 1, **state: Any) -> Path:
        """Create or rewrite `<adw_id>/adw_state.json`; extra keyword args become state keys."""
        body = {
            "adw_id": adw_id,
            "issue_number": None if issue_number is None else str(issue_number),
            "branch_name": f"feature-issue-{issue_number}-adw-{adw_id}",
            "issue_class": "/feature",
            "model_set": "base",
            "all_adws": ["adw_plan_iso"],
            **state,
        }
        return self._save(adw_id, body)

    def _save(self, adw_id: str, body: dict[str, Any]) -> Path:
        path = self.folder(adw_id) / "adw_state.json"
        _replace(path, json.dumps(body, indent=2))
        return path

    def state(self, adw_id: str) -> dict[str, Any]:
        return json.loads((self.folder(adw_id) / "adw_state.json").read_text())

    def update(self, adw_id: str, **changes: Any) -> Path:
        return self._save(adw_id, {**self.state(adw_id), **changes})

    def log(self, adw_id: str, phase: str, line: str) -> Path:
        path = self.folder(adw_id) / f"adw_{phase}_iso" / "execution.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"{_now()} - INFO - {line}\n")
        return path

    def enter_phase(self, adw_id: str, phase: str) -> Path:
        """Start a phase: its `adw_<phase>_iso/` folder appears with a first log line."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        return self.log(adw_id, phase, f"Starting {phase} phase")

    def result(
        self,
        adw_id: str,
        agent: str,
        *,
        cost_usd: float = 0.1,
        is_error: bool = False,
        num_turns: int = 5,
        duration_ms: int = 30_000,
    ) -> Path:
        """Append an agent's closing `result` line to its `raw_output.jsonl`."""
        path = self.folder(adw_id) / agent / "raw_output.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = {
            "type": "result",
            "subtype": "error" if is_error else "success",
            "is_error": is_error,
            "duration_ms": duration_ms,
            "num_turns": num_turns,
            "total_cost_usd": cost_usd,
            "result": "failed" if is_error else "done",
        }
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        return path

    def stream(self, adw_id: str, agent: str, lines: Iterable[dict[str, Any] | str]) -> Path:
        """Append stream-json lines to `<adw_id>/<agent>/raw_output.jsonl`, each whole."""
        path = self.folder(adw_id) / agent / "raw_output.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for line in lines:
                text = line if isinstance(line, str) else dumps(line)
                _append_line(fd, (text.rstrip("\n") + "\n").encode("utf-8"))
        finally:
            os.close(fd)
        return path

    def advance(self, adw_id: str, *, report: bool = True) -> str | None:
        """Finish the current phase and start the next; the phase entered, or None at the end.

        `report=False` leaves out the finished agent's `result` line (the caller wrote it).
        """
        present = [p for p in PHASES if (self.folder(adw_id) / f"adw_{p}_iso").is_dir()]
        current = present[-1] if present else None
        if current is not None:
            if report:
                self.result(adw_id, AGENT_OF_PHASE[current])
            self.log(adw_id, current, f"{current.capitalize()} phase completed successfully")
        index = PHASES.index(current) + 1 if current else 0
        if index >= len(PHASES):
            return None
        nxt = PHASES[index]
        self.enter_phase(adw_id, nxt)
        ran = list(self.state(adw_id).get("all_adws") or [])
        if f"adw_{nxt}_iso" not in ran:
            self.update(adw_id, all_adws=[*ran, f"adw_{nxt}_iso"])
        return nxt

    def remove(self, adw_id: str) -> None:
        shutil.rmtree(self.folder(adw_id), ignore_errors=True)
