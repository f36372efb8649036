"""`livewatch demo`: the dashboard on a temp copy of the sample agents, with a simulator.

The simulator behaves like a small fleet of agents: it moves workflows through
plan → ship, appends logs and agent results, fails one now and then, and starts new ones,
so a newcomer sees live changes within seconds. Between those steps the current agent of each
running workflow streams its Claude Code transcript (a `Conversation`), a line or two at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from livewatch.demo.stream import DEFAULT_MODEL, Conversation
from livewatch.demo.tools import Task
from livewatch.demo.writer import AGENT_OF_PHASE, AgentsWriter
from livewatch.hub.records import PHASES
from livewatch.supervision import sleep_unless

log = logging.getLogger("livewatch.demo")

LOG_LINES = (
    "Reading the issue and the repository layout",
    "Running the test suite",
    "Applying a patch to 3 files",
    "Waiting for the model's reply",
    "Linting changed files",
    "Opening a pull request",
)
TITLES = (
    "Add rate limiting to the public API",
    "Show order history on the account page",
    "Fix double charge on retried payments",
    "Paginate the admin users table",
    "Export invoices as PDF",
    "Fix stale cart totals after a coupon is removed",
    "Upgrade pydantic to v2",
    "Add search to the product catalogue",
)
MODELS = {"base": DEFAULT_MODEL, "heavy": "claude-opus-4-1-20250805"}


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


_TITLE_OF = {slugify(title): title for title in TITLES}


def sample_agents_dir() -> Path:
    """The sample agents: shipped inside the package, or beside it in a checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_sample_agents", package.parent / "agents"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the sample agents/ folder is missing from this installation")


def copy_samples() -> Path:
    """A fresh temp copy of the samples; the caller removes its parent (see `sample_copy`)."""
    target = Path(tempfile.mkdtemp(prefix="livewatch-demo-")) / "agents"
    shutil.copytree(sample_agents_dir(), target)
    return target


@contextlib.contextmanager
def sample_copy() -> Iterator[tuple[Path, Callable[[], None]]]:
    """A temp copy of the samples for the demo to change, and the call that removes it.

    It is removed on the way out, or earlier by the call: a server stopped by a signal
    never comes back out of the block.
    """
    target = copy_samples()

    def remove() -> None:
        shutil.rmtree(target.parent, ignore_errors=True)

    try:
        yield target, remove
    finally:
        remove()


def task_of(adw_id: str, state: dict[str, Any]) -> Task:
    """What a workflow's agents work on, from its state file (or made up from its id)."""
    try:
        issue = int(state.get("issue_number") or 1)
    except (TypeError, ValueError):
        issue = 1
    branch = state.get("branch_name") if isinstance(state.get("branch_name"), str) else ""
    match = re.search(r"-adw-[0-9a-z]+-(.+)$", branch)
    slug = match.group(1) if match else ""
    title = _TITLE_OF.get(slug) or slug.replace("-", " ").capitalize()
    title = title or TITLES[_number(adw_id) % len(TITLES)]
    fields = {
        "issue_class": state.get("issue_class"),
        "cwd": state.get("worktree_path"),
        "plan_file": state.get("plan_file"),
        "backend_port": state.get("backend_port"),
        "frontend_port": state.get("frontend_port"),
    }
    wanted = {"issue_class": str, "cwd": str, "plan_file": str, "backend_port": int}
    wanted |= {"frontend_port": int}
    known = {k: v for k, v in fields.items() if isinstance(v, wanted[k])}
    return Task(adw_id, issue, title, slug=slug, branch=branch, **known)


def _number(adw_id: str) -> int:
    try:
        return int(adw_id, 16)
    except ValueError:
        return sum(map(ord, adw_id))


def _transcript(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a transcript on disk; junk lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = []
    for raw in text.splitlines():
        with contextlib.suppress(ValueError):
            if isinstance(line := json.loads(raw), dict):
                lines.append(line)
    return lines


class Simulator:
    """One random but plausible step every `interval` seconds, agents talking in between."""

    def __init__(
        self,
        root: Path,
        *,
        interval: float = 1.5,
        chatter_interval: float | None = 0.4,
        max_workflows: int = 16,
        seed: int | None = None,
    ) -> None:
        self.agents = AgentsWriter(root)
        self.interval = interval
        self.chatter_interval = chatter_interval
        self.max_workflows = max_workflows
        self.seed = seed
        self.random = random.Random(seed)
        # Chatter draws from its own generator, so steps stay the same with or without it.
        self.chat_random = random.Random(f"{seed}:chatter")
        self.talks: dict[tuple[str, str], Conversation] = {}
        self.steps = 0

    def ids(self) -> list[str]:
        root = self.agents.root
        return sorted(p.name for p in root.iterdir() if (p / "adw_state.json").is_file())

    def phase_of(self, adw_id: str) -> str | None:
        folder = self.agents.folder(adw_id)
        present = [p for p in PHASES if (folder / f"adw_{p}_iso").is_dir()]
        return present[-1] if present else None

    def step(self) -> str:
        """Make one change on disk; returns what it did, for the log."""
        self.steps += 1
        everyone = self.ids()
        active = [i for i in everyone if self._active(i)]
        roll = self.random.random()
        if len(active) < 3 or roll < 0.08:
            if len(everyone) < self.max_workflows:
                return self._start_new()
            if finished := [i for i in everyone if i not in active and self._valid(i)]:
                # Make room: the run that finished longest ago leaves the dashboard.
                oldest = min(finished, key=lambda i: self.agents.folder(i).stat().st_mtime)
                self.agents.remove(oldest)
                self.talks = {k: v for k, v in self.talks.items() if k[0] != oldest}
                return f"archived {oldest}"
        if not active:
            return "idle"
        adw_id = self.random.choice(active)
        phase = self.phase_of(adw_id)
        if roll < 0.17 and phase is not None:
            self._close(adw_id, AGENT_OF_PHASE[phase], fail=True)
            self.agents.log(adw_id, phase, "ERROR - agent gave up after 3 retries")
            self.agents.update(adw_id, status="failed")
            return f"failed {adw_id} in {phase}"
        if roll < 0.55 and phase is not None:
            self.agents.log(adw_id, phase, self.random.choice(LOG_LINES))
            return f"logged {adw_id}"
        if phase is not None:
            self._close(adw_id, AGENT_OF_PHASE[phase])
        entered = self.agents.advance(adw_id, report=False)  # the conversation reported
        if entered is None:
            self.agents.log(adw_id, "ship", "Ship phase completed successfully")
            return f"completed {adw_id}"
        return f"{adw_id} entered {entered}"

    def chatter(self) -> int:
        """Append the next line or few of one running agent's transcript; how many lines."""
        live: list[tuple[str, Conversation]] = []
        for adw_id in self.ids():
            phase = self.phase_of(adw_id)
            if phase is None or not self._active(adw_id):
                continue
            talk = self._talk(adw_id, AGENT_OF_PHASE[phase])
            if not (talk.finished or talk.done):
                live.append((adw_id, talk))
        if not live:
            return 0
        adw_id, talk = self.chat_random.choice(live)
        lines = talk.take(self.chat_random.choice((1, 1, 2, 3)))
        self.agents.stream(adw_id, talk.agent, lines)
        return len(lines)

    def _talk(self, adw_id: str, agent: str) -> Conversation:
        """The conversation of a workflow's agent, carrying on what is on disk already."""
        key = (adw_id, agent)
        if key not in self.talks:
            try:
                state = self.agents.state(adw_id)
            except (OSError, ValueError):
                state = {}
            state = state if isinstance(state, dict) else {}
            model = state.get("model_used")
            if not isinstance(model, str):
                model = MODELS.get(str(state.get("model_set")), DEFAULT_MODEL)
            existing = _transcript(self.agents.folder(adw_id) / agent / "raw_output.jsonl")
            task = task_of(adw_id, state)
            seed = f"{self.seed}:{adw_id}"
            self.talks[key] = Conversation.resuming(
                agent, existing, task=task, seed=seed, model=model
            )
        return self.talks[key]

    def _close(self, adw_id: str, agent: str, *, fail: bool = False) -> None:
        """End the agent's run: its closing message and `result` line (once)."""
        lines = self._talk(adw_id, agent).finish(fail=fail)
        if lines:
            self.agents.stream(adw_id, agent, lines)

    def _start_new(self) -> str:
        adw_id = f"{self.random.getrandbits(32):08x}"
        issue_number = self.random.randint(150, 999)
        issue_class = self.random.choice(["/feature", "/bug", "/chore"])
        model_set = self.random.choice(["base", "heavy"])
        slug = slugify(TITLES[_number(adw_id) % len(TITLES)])
        kind = issue_class.strip("/")
        self.agents.write(
            adw_id,
            issue_number=issue_number,
            issue_class=issue_class,
            model_set=model_set,
            branch_name=f"{kind}-issue-{issue_number}-adw-{adw_id}-{slug}",
        )
        self.agents.enter_phase(adw_id, "plan")
        return f"started {adw_id}"

    def _active(self, adw_id: str) -> bool:
        """Still moving: not failed, not shipped, and with a usable state file."""
        if not self._valid(adw_id):
            return False
        if self.agents.state(adw_id).get("status") in ("failed", "completed"):
            return False
        return not (self.phase_of(adw_id) == "ship" and self._finished(adw_id))

    def _valid(self, adw_id: str) -> bool:
        """The sample's broken state file stays broken (and stays), on purpose."""
        try:
            return isinstance(self.agents.state(adw_id), dict)
        except (OSError, ValueError):
            return False

    def _finished(self, adw_id: str) -> bool:
        log_file = self.agents.folder(adw_id) / "adw_ship_iso" / "execution.log"
        try:
            return "completed" in log_file.read_text().splitlines()[-1]
        except (OSError, IndexError):
            return False

    async def run(self, stop: asyncio.Event) -> None:
        """A step every `interval` s; in between, a line of chatter every `chatter_interval` s."""
        loop = asyncio.get_running_loop()
        next_step = loop.time()
        while True:
            try:
                if loop.time() >= next_step:
                    next_step = loop.time() + self.interval
                    log.debug("[DEMO] %s", await asyncio.to_thread(self.step))
                elif self.chatter_interval:
                    await asyncio.to_thread(self.chatter)
            except OSError as error:
                log.warning("[DEMO] simulator step failed: %s", error)
            tick = self.chatter_interval or self.interval
            if await sleep_unless(stop, max(0.0, min(tick, next_step - loop.time()))):
                return
