"""A real PostgreSQL for the store tests: a throwaway cluster in a temp dir on a free port.

PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user (Debian's
package creates it). Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from livewatch.testing import free_port

PG_ROOT = Path("/usr/lib/postgresql")
MISSING = "PostgreSQL is not installed (./scripts/test installs Debian's postgresql package)"


def pg_bin() -> Path | None:
    """The newest installed server's bin folder (Debian keeps one per major version)."""
    found = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")  # a laptop with the server on PATH (Homebrew and the like)
    return Path(initdb).parent if initdb else None


def _driver_missing() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]' brings it)"
    return None


def why_unavailable() -> str | None:
    """Why no PostgreSQL can run here, or None when one can."""
    if pg_bin() is None:
        return MISSING
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
    return _driver_missing()


class PostgresServer:
    """One PostgreSQL cluster: initdb, start on a free loopback port, stop and remove."""

    def __init__(self) -> None:
        bin_dir = pg_bin()
        assert bin_dir is not None, MISSING
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="livewatch-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        # As root: hand the folder to `postgres` and run every server command as that user.
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            record = pwd.getpwnam("postgres")
            os.chown(self.root, record.pw_uid, record.pw_gid)

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *args], check=True, capture_output=True, timeout=timeout, cwd=self.root
        )

    def start(self) -> PostgresServer:
        self._run(
            str(self.bin / "initdb"),
            "-D", str(self.data),
            "-U", self.user,
            "--auth=trust",
            "--no-sync",  # a test cluster: speed over crash safety
            "-E", "UTF8",
        )  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D", str(self.data),
            "-l", str(self.log_path),
            "-o", options,
            "-w", "-t", "30",
            "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A new, empty database's URL; dropped (with its connections) afterwards."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            deadline = time.monotonic() + 10
            with psycopg.connect(admin, autocommit=True) as connection:
                while True:
                    try:
                        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        break
                    except psycopg.errors.ObjectInUse:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
