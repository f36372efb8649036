"""`livewatch demo`: the dashboard on a temp copy of the sample agents, with a simulator.

The simulator behaves like a small fleet of agents: it moves workflows through
plan → ship, appends logs and agent results, fails one now and then, and starts new ones,
so a newcomer sees live changes within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

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


class Simulator:
    """One random but plausible step every `interval` seconds."""

    def __init__(
        self,
        root: Path,
        *,
        interval: float = 1.5,
        max_workflows: int = 16,
        seed: int | None = None,
    ) -> None:
        self.agents = AgentsWriter(root)
        self.interval = interval
        self.max_workflows = max_workflows
        self.random = random.Random(seed)
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
                return f"archived {oldest}"
        if not active:
            return "idle"
        adw_id = self.random.choice(active)
        phase = self.phase_of(adw_id)
        if roll < 0.17 and phase is not None:
            self.agents.result(adw_id, AGENT_OF_PHASE[phase], is_error=True, cost_usd=0.05)
            self.agents.log(adw_id, phase, "ERROR - agent gave up after 3 retries")
            self.agents.update(adw_id, status="failed")
            return f"failed {adw_id} in {phase}"
        if roll < 0.55 and phase is not None:
            self.agents.log(adw_id, phase, self.random.choice(LOG_LINES))
            return f"logged {adw_id}"
        entered = self.agents.advance(adw_id)
        if entered is None:
            self.agents.log(adw_id, "ship", "Ship phase completed successfully")
            return f"completed {adw_id}"
        return f"{adw_id} entered {entered}"

    def _start_new(self) -> str:
        adw_id = f"{self.random.getrandbits(32):08x}"
        self.agents.write(
            adw_id,
            issue_number=self.random.randint(150, 999),
            issue_class=self.random.choice(["/feature", "/bug", "/chore"]),
            model_set=self.random.choice(["base", "heavy"]),
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
        while True:
            try:
                log.debug("[DEMO] %s", await asyncio.to_thread(self.step))
            except OSError as error:
                log.warning("[DEMO] simulator step failed: %s", error)
            if await sleep_unless(stop, self.interval):
                return
