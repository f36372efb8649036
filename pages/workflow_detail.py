"""`/workflows/{adw_id}`: one workflow in full (state, phases, agents, log tails), live."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import background_tasks, ui

from livewatch import runtime
from livewatch.hub import views
from livewatch.hub.collection import Change
from livewatch.hub.event_filter import EventFilter
from livewatch.hub.records import PHASES, AgentResult, PhaseStep, WorkflowDetail

from .event_feed import FEEDS
from .layout import follow, frame
from .transcript import AgentTranscript

PHASE_ICONS = {
    "done": "check_circle",
    "current": "play_circle",
    "pending": "radio_button_unchecked",
}
PHASE_COLORS = {"done": "green", "current": "blue", "pending": "grey"}


async def read_detail(adw_id: str) -> WorkflowDetail | None:
    # Reading the folder is disk I/O: never on the event loop.
    return await asyncio.to_thread(runtime.current().workflow_detail, adw_id)


def missing(adw_id: str) -> None:
    with ui.card().classes("w-full items-center q-pa-xl"):
        ui.icon("search_off", size="3rem", color="grey")
        ui.label(f"No workflow {adw_id}").classes("text-xl").props("data-testid=detail-missing")
        ui.link("Back to all workflows", "/")


def summary(detail: WorkflowDetail) -> None:
    with ui.row().classes("items-center gap-3"):
        ui.label(detail.adw_id).classes("text-2xl font-bold lw-mono").props(
            "data-testid=detail-title"
        )
        ui.badge(detail.status, color=views.status_color(detail.status)).props(
            f"data-testid=detail-status data-status={detail.status}"
        )
        if detail.issue_number is not None:
            text = f"Issue #{detail.issue_number}"
            if detail.github_url:
                ui.link(text, detail.github_url, new_tab=True).props("data-testid=detail-issue")
            else:
                ui.label(text).props("data-testid=detail-issue")
    if detail.error:
        ui.label(detail.error).classes("lw-error text-sm").props("data-testid=detail-error")
    progress(detail)
    with ui.grid(columns=2).classes("gap-x-6 gap-y-1 text-sm").props("data-testid=detail-summary"):
        for label, value in (
            ("Class", detail.issue_class or ""),
            ("Branch", detail.branch_name or ""),
            ("Model set", detail.model_set or ""),
            ("Cost", views.format_cost(detail.cost_usd)),
            ("Phases done", f"{detail.phases_done} of 6"),
        ):
            ui.label(label).classes("text-grey-7")
            ui.label(value).props(f"data-testid=detail-{label.lower().replace(' ', '-')}")
        ui.label("Updated").classes("text-grey-7")
        ui.element("span").props(f"data-ts={views.epoch_ms(detail.updated_at) or 0}")


def progress(detail: WorkflowDetail) -> None:
    """The six steps plan → ship: done green ✓, current blue, later ones gray."""
    steps = views.phase_steps(detail.phase, detail.status)
    codes = "".join(views.STEP_CODES[s] for s in steps)
    with (
        ui.row()
        .classes("lw-steps items-center")
        .props(f"data-testid=phase-progress data-phase={detail.phase} data-steps={codes}")
    ):
        for index, (phase, code) in enumerate(zip(PHASES, codes, strict=True)):
            with ui.row().classes("items-center gap-1 no-wrap"):
                ui.label("✓" if code == "d" else str(index + 1)).classes(f"lw-step lw-{code}")
                ui.label(phase).classes("text-sm q-mr-sm")


def state_card(detail: WorkflowDetail) -> None:
    with ui.card().classes("w-full").props("data-testid=detail-state"):
        ui.label("State").classes("text-lg font-bold")
        with ui.grid(columns="auto 1fr").classes("gap-x-6 gap-y-1 text-sm w-full"):
            for key, text in views.state_items(detail.state):
                ui.label(key).classes("text-grey-7 lw-mono")
                value = ui.label(text).classes("lw-mono break-all")
                # Keys are whatever the agents wrote: set them as values, never parse them.
                value.props.update({"data-testid": "detail-state-field", "data-key": key})


def timeline(phases: list[PhaseStep]) -> None:
    with ui.card().classes("w-full"):
        ui.label("Phases").classes("text-lg font-bold")
        with ui.timeline(side="right", layout="dense").props("data-testid=detail-phases"):
            for step in phases:
                phase_entry(step)


def phase_entry(step: PhaseStep) -> None:
    entry = ui.timeline_entry(
        title=step.phase,
        subtitle=step.started_at or "",
        icon=PHASE_ICONS[step.state],
        color=PHASE_COLORS[step.state],
    ).props(f"data-testid=detail-phase data-phase={step.phase} data-state={step.state}")
    with entry:
        if step.log_tail:
            ui.label("\n".join(step.log_tail)).classes("lw-log lw-mono").props(
                f"data-testid=detail-log data-phase={step.phase}"
            )
        elif step.state != "pending":
            ui.label("No log yet").classes("text-grey-6 text-sm")


def agents_card(agents: list[AgentResult]) -> None:
    with ui.card().classes("w-full").props("data-testid=detail-agents"):
        ui.label("Agents").classes("text-lg font-bold")
        if not agents:
            ui.label("No agent results yet").classes("text-grey-6 text-sm")
            return
        columns = [
            {"name": n, "label": label, "field": n, "align": "left"}
            for n, label in (
                ("name", "Agent"),
                ("outcome", "Result"),
                ("turns", "Turns"),
                ("duration", "Duration"),
                ("cost", "Cost"),
                ("error", "Error"),
            )
        ]
        rows = [agent_row(a) for a in agents]
        table = ui.table(columns=columns, rows=rows, row_key="name").classes("w-full")
        table.props("flat dense")
        table.add_slot(
            "body",
            """<q-tr :props="props" data-testid="detail-agent" :data-agent="props.row.name">
<q-td v-for="col in props.cols" :key="col.name" :props="props">{{ col.value }}</q-td></q-tr>""",
        )


def agent_row(agent: AgentResult) -> dict[str, str]:
    outcome = "error" if agent.is_error else ("ok" if agent.is_error is False else "")
    return {
        "name": agent.name,
        "outcome": outcome,
        "turns": "" if agent.num_turns is None else str(agent.num_turns),
        "duration": views.format_duration(agent.duration_ms),
        "cost": views.format_cost(agent.cost_usd),
        "error": (agent.result or "") if agent.is_error else "",
    }


def show(detail: WorkflowDetail) -> None:
    summary(detail)
    with ui.row().classes("w-full gap-4 items-start no-wrap"):
        with ui.column().classes("w-1/2 gap-4"):
            timeline(detail.phases)
        with ui.column().classes("w-1/2 gap-4"):
            agents_card(detail.agents)
            state_card(detail)


def touches(change: Change, adw_id: str) -> bool:
    return adw_id in change.remove or any(r["adw_id"] == adw_id for r in change.upsert)


class DetailView:
    """The page body for one id, re-read from disk whenever the hub says it changed."""

    def __init__(self, adw_id: str) -> None:
        self.adw_id = adw_id
        self.shown: WorkflowDetail | None = None
        self.content = ui.column().classes("lw-page gap-4")
        # Reads run in threads; one at a time, so an older read never lands after a newer.
        self.lock = asyncio.Lock()

    async def refresh(self, force: bool = False) -> None:
        async with self.lock:
            detail = await read_detail(self.adw_id)
            if force or detail != self.shown:
                self.shown = detail
                self.render()

    def render(self) -> None:
        self.content.clear()
        with self.content:
            ui.link("← All workflows", "/").classes("text-sm")
            if self.shown is None:
                missing(self.adw_id)
            else:
                show(self.shown)

    async def on_change(self, batch: list[Change]) -> None:
        if not batch or any(touches(change, self.adw_id) for change in batch):
            await self.refresh()


class Transcripts:
    """Each agent's live transcript; an agent that starts later gets one as it appears."""

    def __init__(self, adw_id: str) -> None:
        self.adw_id = adw_id
        self.matching = EventFilter(workflow=adw_id)  # sees every agent's first event
        self.paused = False
        self.shown: dict[str, AgentTranscript] = {}
        with ui.card().classes("w-full").props("data-testid=detail-transcripts"):
            ui.label("Live transcripts").classes("text-lg font-bold")
            self.empty = ui.label("No agent events yet").classes("text-grey-6 text-sm")
            self.box = ui.column().classes("w-full gap-4")

    async def load(self) -> None:
        rt = runtime.current()
        for agent in await asyncio.to_thread(rt.agents_of, self.adw_id):
            await self.add(agent)
        FEEDS.add(self, rt.hub.events)

    async def add(self, agent: str) -> None:
        if agent in self.shown:
            return
        rt = runtime.current()
        self.shown[agent] = None  # type: ignore[assignment]  # claimed: no second add meanwhile
        rows = await asyncio.to_thread(rt.transcript, self.adw_id, agent)

        def older(before: int | None) -> list[dict[str, Any]]:
            return rt.transcript(self.adw_id, agent, before=before)

        with self.box:
            transcript = AgentTranscript(
                self.adw_id,
                agent,
                rows,
                older=older,
                on_resume=lambda: rt.transcript(self.adw_id, agent),
            )
            FEEDS.add(transcript, rt.hub.events)
        self.shown[agent] = transcript
        self.empty.visible = False

    def push(self, rows: list[dict[str, Any]]) -> None:
        for agent in {r.get("agent") for r in rows} - set(self.shown):
            if agent:
                background_tasks.create(self.add(agent), name="new transcript")


@ui.page("/workflows/{adw_id}", title="livewatch · Workflow")
async def workflow_page(adw_id: str) -> None:
    """One workflow in full, live: state, phases, agents and log tails."""
    workflows = runtime.current().hub.workflows
    header = frame("", workflows.last_change_ts)
    ui.page_title(f"livewatch · {adw_id}")
    view = DetailView(adw_id)

    async def on_change(batch: list[Change]) -> None:
        header.touch(workflows.last_change_ts)
        await view.on_change(batch)

    follow(workflows, on_change)  # before the first read, so no change slips in between
    with ui.column().classes("lw-page"):
        transcripts = Transcripts(adw_id)
    await view.refresh(force=True)
    await transcripts.load()
