"""Load NiceGUI page modules from a folder: the bundled `pages/`, and a team's own.

The bundled pages sit at the repo's top as `pages/` and ride inside the installed package
as `livewatch/_pages/`; either way they load as the package `livewatch.pages`, so no
generic top-level `pages` module ever lands in site-packages.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from pathlib import Path

log = logging.getLogger("livewatch.pages")


def bundled_pages_dir() -> Path | None:
    here = Path(__file__).parent
    for candidate in (here / "_pages", here.parent / "pages"):
        if candidate.is_dir():
            return candidate
    return None


def load_pages(folder: Path, package: str) -> list[str]:
    """Import every `*.py` in `folder` (not `_private` ones) as `<package>.<name>`."""
    if package not in sys.modules:
        module = types.ModuleType(package)
        module.__path__ = [str(folder.absolute())]
        sys.modules[package] = module
    names = sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    log.info("[STARTUP] loaded pages from %s: %s", folder, ", ".join(names) or "none")
    return names
