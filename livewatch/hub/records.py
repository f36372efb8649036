"""The records livewatch publishes: the seed's wire fields first, our additions after."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PHASES: tuple[str, ...] = ("plan", "build", "test", "review", "document", "ship")

Phase = Literal["plan", "build", "test", "review", "document", "ship"]
# A run with one of these is over: `stalled` is not, for its next write makes it `running`.
ENDED: frozenset[str] = frozenset({"completed", "failed"})

Status = Literal["running", "completed", "failed", "idle", "error", "stalled"]


class AgentNow(BaseModel):
    """What a running workflow's agents did last: its newest agent event."""

    agent: str
    kind: str
    tool: str | None = None
    summary: str = ""
    ts: int  # epoch ms


class Tokens(BaseModel):
    """Tokens used so far over all of a workflow's agents (each message counted once)."""

    model_config = ConfigDict(populate_by_name=True)

    in_: int = Field(0, alias="in", serialization_alias="in")
    out: int = 0


class Workflow(BaseModel):
    """One `agents/<adw_id>/` folder, as the list views and `/ws/workflows` show it."""

    model_config = ConfigDict(extra="forbid")

    # The seed's four fields: same names and types, so its React client works unchanged.
    adw_id: str
    issue_number: int | None = None
    phase: Phase = "plan"
    github_url: str | None = None
    # Our additions.
    status: Status = "idle"
    issue_class: str | None = None
    branch_name: str | None = None
    model_set: str | None = None
    all_adws: list[str] = Field(default_factory=list)
    # Where the workflow's agents run (adw_state.json): hook events from inside it belong to it.
    worktree_path: str | None = None
    phases_done: int = 0
    cost_usd: float | None = None
    updated_at: str | None = None
    error: str | None = None
    # Set only behind a broker (`livewatch serve --broker`): the agent host the record came
    # from, and whether that host's heartbeat ran out (its last known state is shown).
    host: str | None = None
    stale: bool = False
    # Live agent activity from the event stream (transcripts and hooks), not from the folder.
    now: AgentNow | None = None
    tokens: Tokens | None = None


class AgentResult(BaseModel):
    """The last `result` line of one agent's `raw_output.jsonl`."""

    name: str
    is_error: bool | None = None
    num_turns: int | None = None
    duration_ms: float | None = None
    cost_usd: float | None = None
    result: str | None = None
    updated_at: str | None = None
    # From the result line's `usage`: the agent's whole run (input counts cache reads/writes).
    tokens_in: int | None = None
    tokens_out: int | None = None


class PhaseStep(BaseModel):
    """One of the six phases, for the detail page's timeline."""

    phase: Phase
    state: Literal["done", "current", "pending"]
    started_at: str | None = None
    log_tail: list[str] = Field(default_factory=list)


class WorkflowDetail(Workflow):
    """A workflow with everything the detail view needs: state, phases, agents, logs."""

    state: dict[str, Any] = Field(default_factory=dict)
    phases: list[PhaseStep] = Field(default_factory=list)
    agents: list[AgentResult] = Field(default_factory=list)


class Route(BaseModel):
    """One method of one route of the introspected app."""

    model_config = ConfigDict(extra="forbid")

    path: str
    method: str
    handler: str
    description: str = ""


class RoutesList(BaseModel):
    """`GET /api/routes`, as the seed shapes it."""

    routes: list[Route]
    total: int


def route_key(route: dict[str, Any]) -> str:
    """Routes are keyed by method and path, since one path serves many methods."""
    return f"{route['method']} {route['path']}"


def workflow_key(workflow: dict[str, Any]) -> str:
    return str(workflow["adw_id"])
