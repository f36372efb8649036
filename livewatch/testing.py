"""Test helpers that need no test runner: a real livewatch server on a free port, the pages'
stable selectors, and Chromium's launch options. The pytest fixture lives in
`livewatch.pytest_plugin`, so this module imports without pytest.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from livewatch.demo.writer import AgentsWriter

# The stable selectors the pages carry (documented in the README).
SELECTORS = {
    "connection_status": '[data-testid="connection-status"]',
    "connection_rtt": '[data-testid="connection-rtt"]',
    "broker_state": '[data-testid="broker-state"]',
    "last_updated": '[data-testid="last-updated"]',
    "workflows_table": '[data-testid="workflows-table"]',
    "workflow_row": '[data-testid="workflow-row"]',
    "routes_table": '[data-testid="routes-table"]',
    "route_row": '[data-testid="route-row"]',
    "search": '[data-testid="search"]',
    "method_filter": '[data-testid="method-filter"]',
    "routes_count": '[data-testid="routes-count"]',
    "workflows_heading": '[data-testid="workflows-heading"]',
    "workflows_count": '[data-testid="workflows-count"]',
    "workflows_empty": '[data-testid="workflows-empty"]',
    "activity_total": '[data-testid="activity-total"]',
    "activity_chart": '[data-testid="activity-chart"]',
    "status_filter": '[data-testid="status-filter"]',
    "phase_filter": '[data-testid="phase-filter"]',
    "phase_progress": '[data-testid="phase-progress"]',
    "dark_toggle": '[data-testid="dark-toggle"]',
    "detail_title": '[data-testid="detail-title"]',
    "detail_missing": '[data-testid="detail-missing"]',
}


# Headless Chromium in a container or CI: no sandbox, no GPU, nothing phoning home mid-test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")


def chromium_launch_args() -> dict[str, object]:
    """Playwright launch options: Debian's Chromium when there is one, else Playwright's own."""
    options: dict[str, object] = {"args": list(CHROMIUM_ARGS)}
    if DEBIAN_CHROMIUM.exists():
        options["executable_path"] = str(DEBIAN_CHROMIUM)
    return options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """One `livewatch serve` child process you can start, kill and start again."""

    def __init__(
        self,
        agents_dir: Path,
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
        subcommand: str = "serve",
    ) -> None:
        self.subcommand = subcommand
        self.agents_dir = agents_dir
        self.agents = AgentsWriter(agents_dir)
        self.port = port or free_port()
        self.args = list(args)
        self.extra_env = env or {}
        self.log_path = log_path or agents_dir.parent / f"livewatch-{self.port}.log"
        # The event database beside the log, not in the user's home: one per server, kept
        # across restarts of this one.
        if not any(a == "--db" or a.startswith("--db=") for a in self.args):
            self.args += ["--db", str(agents_dir.parent / f"livewatch-{self.port}.db")]
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "livewatch", self.subcommand,
            "--agents-dir", str(self.agents_dir),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            *self.args,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0, *, verified: bool = True) -> LiveServer:
        """Start, and return once it serves (and, with `verified`, once its list is checked
        against the disk: a restart serves the last known list first)."""
        # NiceGUI treats a process with PYTEST_CURRENT_TEST as its own test harness.
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd
        )
        log.close()
        try:
            # Subclasses (an agent host serves no /healthz) may take just the timeout.
            self.wait_ready(timeout) if verified else self.wait_ready(timeout, verified=False)
        except BaseException:
            self.kill()  # a server that never got ready must not outlive the test
            raise
        return self

    def wait_ready(self, timeout: float, *, verified: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"livewatch exited early:\n{self.log()}")
            try:
                # /healthz needs no token; 200 once the watchers run.
                health = httpx.get(f"{self.url}/healthz", timeout=1)
                if health.status_code == 200 and not (verified and health.json().get("verifying")):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"livewatch did not answer within {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Send `sig` and wait for the exit; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]
