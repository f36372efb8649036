"""The house's rules: imports run one way (sources → hub → outlets), and the top stays small.

Each rule names a room and the rooms it must never import. Function-level imports count too,
since a late import is still a dependency. The layout is drawn in ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "livewatch"

# Wiring and user-facing modules at the top of the package: they may import any room.
WIRING = (
    "livewatch.cli",
    "livewatch.server",
    "livewatch.runtime",
    "livewatch.client",
    "livewatch.tail",
    "livewatch.testing",
    "livewatch.pytest_plugin",
    "livewatch.page_loader",
)
# Rooms that feed on the hub from above; nothing below them may reach up into them.
ABOVE_THE_HUB = ("livewatch.outlets", "livewatch.broker", "livewatch.demo", "pages", *WIRING)

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # The hub depends on its own records only.
    "livewatch.hub": ("livewatch.",),
    # Shared helpers at the top sit under everything: they import no room.
    "livewatch.settings": ("livewatch.hub", "livewatch.sources", *ABOVE_THE_HUB),
    "livewatch.metrics": ("livewatch.",),
    "livewatch.supervision": ("livewatch.",),
    "livewatch.security": ("livewatch.hub", "livewatch.sources", *ABOVE_THE_HUB),
    # Sources feed the hub and know nothing of who reads it.
    "livewatch.sources": (*ABOVE_THE_HUB, "livewatch.alerts"),
    # The store keeps what the hub saw; it never reads the world or serves it.
    "livewatch.store": ("livewatch.sources", *ABOVE_THE_HUB, "livewatch.alerts"),
    # Outlets read the hub (found through the runtime) and never the disk or each other's pages.
    "livewatch.outlets": ("livewatch.sources", "livewatch.broker", "livewatch.demo", "pages"),
    "livewatch.broker": ("livewatch.outlets", "pages", "livewatch.server", "livewatch.cli"),
    # History folds what the hub saw into the store, and reads the disk for its backfill;
    # it serves nobody: outlets and pages reach it through the runtime.
    "livewatch.history": ABOVE_THE_HUB,
    # Alerts follow the hub and keep their outbox in the store; they serve no one directly.
    "livewatch.alerts": ("livewatch.sources", *ABOVE_THE_HUB),
    # Pages show the hub; they hold no business logic and never read files or sockets.
    "pages": (
        "livewatch.sources",
        "livewatch.store",
        "livewatch.broker",
        "livewatch.outlets",
        "livewatch.alerts",
    ),
}
# Allowed exceptions, each with its reason. Empty today; keep it short.
ALLOWED: dict[tuple[str, str], str] = {}

MAX_TOP_MODULES = 12


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, with relative imports resolved."""
    own = module_name(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            found.add(module)
            # `from livewatch.hub import views` imports the module livewatch.hub.views.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def source_files() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *(ROOT / "pages").glob("*.py")])


def room_of(module: str) -> str | None:
    rooms = [room for room in FORBIDDEN if module == room or module.startswith(f"{room}.")]
    return max(rooms, key=len, default=None)


def violations() -> list[str]:
    found = []
    for path in source_files():
        module = module_name(path)
        room = room_of(module)
        if room is None:
            continue
        for target in sorted(imported_modules(path)):
            for banned in FORBIDDEN[room]:
                hits = target.startswith(banned) or target == banned.rstrip(".")
                if hits and (module, target) not in ALLOWED and not target.startswith(room):
                    found.append(f"{module} imports {target} (rule: {room} ↛ {banned})")
    return found


def test_imports_run_one_way() -> None:
    assert violations() == []


def test_the_guard_catches_an_import_against_the_flow(tmp_path: Path) -> None:
    bad = PACKAGE / "hub" / "_guard_probe.py"
    bad.write_text("from livewatch.outlets import api\n")
    try:
        rule = "(rule: livewatch.hub ↛ livewatch.)"
        assert violations() == [
            f"livewatch.hub._guard_probe imports livewatch.outlets {rule}",
            f"livewatch.hub._guard_probe imports livewatch.outlets.api {rule}",
        ]
    finally:
        bad.unlink()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from . import records\n", {"livewatch.hub", "livewatch.hub.records"}),
        ("from ..outlets import api\n", {"livewatch.outlets", "livewatch.outlets.api"}),
        ("def late():\n    import livewatch.broker.bus\n", {"livewatch.broker.bus"}),
    ],
)
def test_relative_and_late_imports_count(source: str, expected: set[str], tmp_path: Path) -> None:
    probe = PACKAGE / "hub" / "_import_probe.py"
    probe.write_text(source)
    try:
        assert imported_modules(probe) == expected
    finally:
        probe.unlink()


def test_the_top_of_the_package_stays_small() -> None:
    top = sorted(
        p.stem for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")
    )
    assert len(top) <= MAX_TOP_MODULES, top


def test_every_room_is_a_package_with_a_docstring() -> None:
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_")):
        if folder.name == "__pycache__":
            continue
        init = folder / "__init__.py"
        assert init.exists(), f"{folder.name}/ has no __init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{folder.name}/ says nothing"
