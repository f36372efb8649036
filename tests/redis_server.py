"""A real redis-server for the broker tests (a free loopback port, killable, restartable),
and the `livewatch agent` processes that publish to it.

Nothing is saved (`--save "" --appendonly no`), so a restart is the hard case: Redis comes
back empty and the agents must publish everything again.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from livewatch.broker.bus import Keys
from livewatch.testing import LiveServer, free_port

REDIS_SERVER = shutil.which("redis-server")
MISSING = "redis-server is not installed (./scripts/test installs Debian's redis-server package)"


class RedisServer:
    """One redis-server child process that keeps its port across restarts."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"redis-{self.port}.log"
        self._client: redis.Redis | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        assert REDIS_SERVER is not None, MISSING
        return [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip

    def start(self, timeout: float = 10.0) -> RedisServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.log_path.read_text()}")
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.02)
        raise TimeoutError(f"redis-server did not answer within {timeout}s")

    def kill(self) -> None:
        """SIGKILL: the state in memory is gone, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> redis.Redis:
        """A client that reconnects by itself across restarts."""
        if self._client is None:
            self._client = redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)
        return self._client


class AgentHost(LiveServer):
    """`livewatch agent` for one host label; ready once its heartbeat key is in Redis."""

    def __init__(
        self, agents_dir: Path, server: RedisServer, label: str, stale_after_s: float
    ) -> None:
        args = [
            "--broker",
            server.url,
            "--host-label",
            label,
            "--stale-after-s",
            str(stale_after_s),
        ]
        super().__init__(agents_dir, subcommand="agent", args=args)
        self.redis = server
        self.label = label

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"livewatch agent exited early:\n{self.log()}")
            # The key names the publishing process: not the one before a restart.
            publisher = self.redis.client().get(Keys().heartbeat(self.label)) or ""
            if self.process is not None and publisher.startswith(f"{self.process.pid}@"):
                return
            time.sleep(0.05)
        raise TimeoutError(f"livewatch agent never published:\n{self.log()}")
