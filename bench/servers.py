"""The two servers under test as child processes, and what /proc says about them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import proc
from bench.data import GITHUB_REPO

BENCH_DIR = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BASELINE_INTERVAL_S = 2.0  # the seed's rescan period


@dataclass
class ServerProcess:
    """One server under test: its command line, port, and the child once spawned."""

    name: str
    command: list[str]
    port: int
    log_path: Path
    ws_seed: str = "/ws/workflows"
    ws_delta: str | None = None  # the protocol-2 path, where the server has one
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    spawned_at: float = 0.0  # perf_counter just before the spawn

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("ab") as log:
            self.spawned_at = time.perf_counter()
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """utime + stime of the server and its children so far, from /proc.

        Children already reaped count too (in their parent's cutime/cstime): else the sum
        drops when one exits (the history backfill, the scan processes) and CPU goes negative.
        """
        return sum(proc.cpu_ticks(pid, reaped=True) for pid in self.pids()) / CLOCK_TICKS

    def rss_mb(self, key: str = "VmRSS") -> float:
        """VmRSS (or VmHWM, the peak) of the server and its children, in MiB."""
        return sum(proc.status_kb(pid, key) for pid in self.pids()) / 1024

    def pids(self) -> list[int]:
        return proc.tree(self.pid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def livewatch_server(agents_dir: Path, log_dir: Path, extra: list[str]) -> ServerProcess:
    """`python -m livewatch serve`: its CLI is the only part of livewatch the benchmark uses."""
    port = free_port()
    command = [
        sys.executable, "-m", "livewatch", "serve",
        "--agents-dir", str(agents_dir),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--heartbeat-s", "3600",  # no app-level pings while we measure
        "--github-repo", GITHUB_REPO,
        *extra,
    ]  # fmt: skip
    return ServerProcess(
        "livewatch",
        command,
        port,
        log_dir / "livewatch.log",
        ws_delta="/ws/workflows?protocol=2",
    )


def baseline_server(agents_dir: Path, log_dir: Path) -> ServerProcess:
    port = free_port()
    command = [
        sys.executable,
        str(BENCH_DIR / "baseline_server.py"),
        "--agents-dir", str(agents_dir),
        "--port", str(port),
        "--github-repo", GITHUB_REPO,
        "--interval", str(BASELINE_INTERVAL_S),
    ]  # fmt: skip
    return ServerProcess("baseline", command, port, log_dir / "baseline.log")


def wait_quiet(
    server: ServerProcess, *, below: float = 0.05, window_s: float = 0.5, limit_s: float = 60.0
) -> float:
    """Wait until the server uses under `below` of a core over `window_s`; returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = server.cpu_seconds()
        time.sleep(window_s)
        if server.cpu_seconds() - before < below * window_s:
            break
    return time.monotonic() - started
