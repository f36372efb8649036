"""Shipping: the wheel carries pages and samples, the CLI runs anywhere, the image lints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from livewatch.testing import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
    )
    return next(out.glob("livewatch-*.whl"))


def test_the_wheel_carries_pages_and_samples_inside_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "livewatch/_pages/workflows.py" in names
    assert "livewatch/_pages/layout.py" in names
    assert any(n.startswith("livewatch/_sample_agents/") for n in names)
    assert not any(n.startswith("pages/") for n in names), "no generic top-level `pages`"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "livewatch = livewatch.cli:main" in text
    assert "livewatch = livewatch.pytest_plugin" in text  # the pytest11 plugin


def test_the_installed_package_finds_its_pages_from_any_directory(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "-t",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("PYTEST_CURRENT_TEST", None)
    probe = (
        "import sys\n"
        "sys.modules['pytest'] = None  # a plain `pip install livewatch` has no pytest\n"
        "from livewatch.testing import SELECTORS, LiveServer, chromium_launch_args\n"
        "from livewatch.client import LiveClient\n"
        "from livewatch import page_loader, demo\n"
        "print(page_loader.bundled_pages_dir())\n"
        "print(demo.sample_agents_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == str(target / "livewatch" / "_pages")
    assert out[1] == str(target / "livewatch" / "_sample_agents")


def test_the_dockerfile_lints_clean() -> None:
    result = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_uses_the_dockerfiles_commands() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^#\s+(docker (?:build|run) .+)$", dockerfile, flags=re.MULTILINE)
    assert len(commands) == 2
    for command in commands:
        assert command in readme, command


def listening_address(port: int) -> str | None:
    """The local address a TCP socket listens on for `port`, read from /proc/net/tcp."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
            return ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return None


@pytest.mark.parametrize(
    ("extra_env", "expected"),
    [
        ({}, "127.0.0.1"),
        ({"LIVEWATCH_TOKEN": "t0ken"}, "0.0.0.0"),
        ({"LIVEWATCH_EXPOSE": "1"}, "0.0.0.0"),
    ],
)
def test_the_image_entrypoint_binds_wide_only_with_a_token_or_when_told(
    tmp_path: Path, extra_env: dict[str, str], expected: str
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEWATCH_", "PYTEST_"))}
    env.update(LIVEWATCH_PORT=str(port), LIVEWATCH_AGENTS_DIR=str(tmp_path), **extra_env)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    process = subprocess.Popen(["sh", str(ROOT / "docker-entrypoint.sh"), "serve"], env=env)
    try:
        deadline = time.monotonic() + 20
        while listening_address(port) is None:
            assert process.poll() is None, "the entrypoint exited"
            assert time.monotonic() < deadline, "nothing listened in time"
            time.sleep(0.05)
        assert listening_address(port) == expected
    finally:
        process.terminate()
        process.wait(10)


def test_the_readme_documents_every_setting() -> None:
    from livewatch.settings import Settings

    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        flag = f"`--{name.replace('_', '-')}`"
        assert flag in readme, f"{flag} is missing from the README's configuration table"


def test_ci_runs_the_readmes_test_command() -> None:
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci[-1] == "./scripts/test"
    assert "./scripts/test" in (ROOT / "README.md").read_text()
