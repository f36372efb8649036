"""What a workflow folder says about its past run: phases and agents, from file times.

Used by the history's backfill, which runs in a child process on the server's first start.
A phase started at its log's first timestamped line (else when its `adw_<phase>_iso/` folder
was last changed, which is when its log was created) and ended when the next one started;
the last one ends with the run, at its log's last timestamped line (else the folder's newest
mtime), when the run is over. Log times carry no zone: they are read as UTC. Never raises on
folder content, like the reader it builds on.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livewatch.hub.records import ENDED, PHASES, WorkflowDetail
from livewatch.hub.views import epoch_ms
from livewatch.sources.prefetch import fork_pool, worker_count
from livewatch.sources.workflows import line_time, read_detail, workflow_ids

Row = dict[str, Any]
CHUNK = 250  # folders a process reads at a time
FINAL = frozenset({"completed", "failed", "stalled"})  # outcomes kept as they are


@dataclass
class RunFacts:
    """One run as the history's tables take it."""

    run: Row
    phases: list[Row] = field(default_factory=list)
    agents: list[Row] = field(default_factory=list)


def phase_rows(adw_id: str, starts: dict[str, int], end_ms: int | None) -> list[Row]:
    """Phases in the order they ran, each ending where the next began (the last at `end_ms`)."""
    order = sorted(starts, key=lambda p: (starts[p], PHASES.index(p)))
    rows = []
    for index, phase in enumerate(order):
        ended = starts[order[index + 1]] if index + 1 < len(order) else end_ms
        if ended is not None:
            ended = max(ended, starts[phase])  # a clock that went back never gives a negative
        rows.append(
            {"adw_id": adw_id, "phase": phase, "started_ms": starts[phase], "ended_ms": ended}
        )
    return rows


def facts_of(detail: WorkflowDetail, folder_times: dict[str, int], newest_ms: int) -> RunFacts:
    """The run of one read folder; `folder_times`: each phase folder's mtime (ms). Pure."""
    final = detail.status in ENDED  # a stalled run is not over: its next write resumes it
    starts: dict[str, int] = {}
    tails: dict[str, list[str]] = {}
    for step in detail.phases:
        if step.phase not in folder_times:
            continue  # the phase never ran: no folder
        starts[step.phase] = epoch_ms(step.started_at) or folder_times[step.phase]
        tails[step.phase] = step.log_tail
    last_line_ms = None
    if starts and (tail := tails[max(starts, key=lambda p: starts[p])]):
        last_line_ms = epoch_ms(line_time(tail[-1]))
    first = min(starts.values(), default=newest_ms)
    end = (last_line_ms or newest_ms) if final else None
    if end is not None:
        end = max(end, first)
    last_seen = max(newest_ms, end or 0, first)
    agents = [
        {
            "adw_id": detail.adw_id,
            "agent": agent.name,
            "ended_ms": epoch_ms(agent.updated_at) or newest_ms,
            "num_turns": agent.num_turns,
            "duration_ms": agent.duration_ms,
            "cost_usd": agent.cost_usd,
            "tokens_in": agent.tokens_in,
            "tokens_out": agent.tokens_out,
            "is_error": bool(agent.is_error),
        }
        for agent in detail.agents
        if agent.num_turns is not None or agent.cost_usd is not None or agent.is_error is not None
    ]
    tokens = [a for a in agents if a["tokens_in"] is not None]
    run = {
        "adw_id": detail.adw_id,
        "first_seen_ms": first,
        "last_seen_ms": last_seen,
        "ended_ms": end,
        "duration_ms": (end or last_seen) - first,
        "host": detail.host,
        "issue_number": detail.issue_number,
        "issue_class": detail.issue_class,
        "model_set": detail.model_set,
        "status": detail.status,
        "outcome": detail.status if detail.status in FINAL else "running",
        "cost_usd": detail.cost_usd,
        "tokens_in": sum(a["tokens_in"] for a in tokens) if tokens else None,
        "tokens_out": sum(a["tokens_out"] or 0 for a in tokens) if tokens else None,
    }
    return RunFacts(run, phase_rows(detail.adw_id, starts, end), agents)


def _phase_folder_times(folder: Path) -> dict[str, int]:
    times = {}
    for phase in PHASES:
        try:
            st = os.lstat(folder / f"adw_{phase}_iso")
        except OSError:
            continue
        times[phase] = int(st.st_mtime * 1000)
    return times


def read_run(folder: Path) -> RunFacts | None:
    """One folder's run; None when the folder is gone or its state file cannot be used."""
    detail = read_detail(folder, log_lines=1)
    if detail.status == "error":
        return None  # no state to tell what the run was: nothing to record yet
    newest = epoch_ms(detail.updated_at) or int(os.path.getmtime(folder) * 1000)
    return facts_of(detail, _phase_folder_times(folder), newest)


def read_runs(agents_dir: Path, names: list[str]) -> list[RunFacts]:
    """The runs of these folders, leaving out those gone meanwhile or without a state."""
    found = []
    for name in names:
        try:
            facts = read_run(agents_dir / name)
        except OSError:
            continue  # vanished meanwhile
        if facts is not None:
            found.append(facts)
    return found


def scan_runs(
    agents_dir: Path, skip: Iterable[str] = (), *, parallel: bool = False
) -> Iterator[RunFacts]:
    """Every run under `agents_dir` but those named in `skip`, oldest name first.

    `parallel`: read in one process per core (a few ms a folder; 10,000 folders took ~15
    CPU-s), the runs still coming in order.
    """
    names = sorted(workflow_ids(agents_dir) - set(skip))
    chunks = [names[i : i + CHUNK] for i in range(0, len(names), CHUNK)]
    workers = worker_count(len(names)) if parallel else 1
    if workers <= 1:
        for chunk in chunks:
            yield from read_runs(agents_dir, chunk)
        return
    with fork_pool(workers) as pool:
        for found in pool.map(read_runs, itertools.repeat(agents_dir), chunks):
            yield from found
