"""Route introspection: list a FastAPI/Starlette app's routes as `Route` records.

`introspect` reads an app object already in hand. `introspect_target` and
`introspect_target_async` read a user's app named "module:attribute" (as uvicorn does)
in a child process, so the user's code never runs inside the dashboard: a fresh import
sees their latest edits, and a crash, a hang or a stray global cannot harm our server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import json
import os
import subprocess
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Router, WebSocketRoute
from starlette.routing import Route as HTTPRoute

from livewatch.hub.records import Route

try:  # FastAPI >= 0.137.2 keeps included routers as tree nodes; this flattens them.
    from fastapi.routing import iter_route_contexts
except ImportError:  # Older FastAPI copies included routes into `app.routes` directly.
    iter_route_contexts = None

# HEAD and OPTIONS are answered implicitly for every GET route; listing them is noise.
_IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# FastAPI's docs settings: each names a path the framework serves, not the user.
_DOCS_ATTRS = ("docs_url", "redoc_url", "openapi_url", "swagger_ui_oauth2_redirect_url")
_NICEGUI_PREFIX = "/_nicegui"
# Routes named so are an app's plumbing (livewatch's JSON-404 catch-all), not routes a user wrote.
PLUMBING_NAME = "livewatch:plumbing"
# The livewatch package's parent, so the child finds `livewatch` from any cwd.
_LIVEWATCH_ROOT = Path(__file__).resolve().parents[2]
_SITE_DIRS = {Path(sysconfig.get_path(scheme)).resolve() for scheme in ("purelib", "platlib")}
_TAIL_CHARS = 300


class RoutesError(Exception):
    """A target app could not be introspected; the message is one line."""


@dataclass(frozen=True)
class TargetRoutes:
    """The routes of a target app, and the directory to watch for `.py` edits."""

    routes: list[Route]
    watch_dir: Path | None


# --- In-process introspection ------------------------------------------------------------


def introspect(app: Starlette) -> list[Route]:
    """One `Route` per method of each HTTP route ("WS" for websockets), sorted by (path, method)."""
    records = _walk(app.routes, prefix="", framework_paths=_docs_paths(app))
    return sorted(records, key=lambda record: (record.path, record.method))


def _docs_paths(app: object) -> frozenset[str]:
    # Read from the app itself, since users move or disable the docs (`docs_url=None`).
    return frozenset(path for attr in _DOCS_ATTRS if (path := getattr(app, attr, None)))


def _flatten(routes: Iterable[BaseRoute]) -> Iterator[tuple[BaseRoute, Any]]:
    """Yield (the route as declared, a view of it with its effective path, methods, app)."""
    if iter_route_contexts is None:
        yield from ((route, route) for route in routes)
    else:
        yield from ((context.original_route, context) for context in iter_route_contexts(routes))


def _walk(
    routes: Iterable[BaseRoute], prefix: str, framework_paths: frozenset[str]
) -> Iterator[Route]:
    for declared, route in _flatten(routes):
        if isinstance(declared, Mount):
            # Only routers hold routes to list; static files and foreign ASGI apps don't.
            if isinstance(route.app, Starlette | Router):
                sub_docs = _docs_paths(route.app)
                yield from _walk(route.app.routes, prefix + route.path, sub_docs)
            continue
        if not isinstance(declared, HTTPRoute | WebSocketRoute):
            continue  # e.g. `Host`: not a path this app serves on its own.
        path = prefix + route.path
        if route.path in framework_paths or path.startswith(_NICEGUI_PREFIX):
            continue
        if getattr(declared, "name", None) == PLUMBING_NAME:
            continue
        handler, description = _describe_endpoint(route.endpoint)
        for method in _methods(declared, route.methods):
            yield Route(path=path, method=method, handler=handler, description=description)


def _methods(route: BaseRoute, methods: set[str] | None) -> list[str]:
    if isinstance(route, WebSocketRoute):
        return ["WS"]
    if methods is None:
        # A class endpoint (`HTTPEndpoint`) serves the methods it defines.
        methods = {m for m in _HTTP_METHODS if callable(getattr(route.endpoint, m.lower(), None))}
    return sorted(set(methods) - _IMPLICIT_METHODS)


def _describe_endpoint(endpoint: Any) -> tuple[str, str]:
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func  # A partial's own name and doc say nothing about the handler.
    name = getattr(endpoint, "__name__", type(endpoint).__name__)
    doc = getattr(endpoint, "__doc__", None) or ""
    first_line = next((line.strip() for line in doc.splitlines() if line.strip()), "")
    return name, first_line


# --- Out-of-process introspection of "module:attribute" ------------------------------------


def _split_spec(spec: str) -> tuple[str, str]:
    module, sep, attr = spec.partition(":")
    dotted = (module, attr)
    if not sep or not all(part.isidentifier() for name in dotted for part in name.split(".")):
        raise RoutesError(f"bad app spec {spec!r}: expected 'module:attribute', e.g. 'main:app'")
    return module, attr


def introspect_target(spec: str, *, cwd: Path | None = None, timeout: float = 20.0) -> TargetRoutes:
    """Introspect the app named by `spec` ("module:attribute") in a child process run in `cwd`."""
    _split_spec(spec)
    workdir = _workdir(cwd)
    try:
        done = subprocess.run(
            _child_command(spec),
            cwd=workdir,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise _timeout_error(spec, timeout, exc.stderr) from None
    except OSError as exc:
        raise RoutesError(f"cannot start the introspection process: {exc}") from None
    return _parse_result(spec, done.returncode, done.stdout, done.stderr)


async def introspect_target_async(
    spec: str, *, cwd: Path | None = None, timeout: float = 20.0
) -> TargetRoutes:
    """`introspect_target` without blocking the event loop; the child is killed on timeout."""
    _split_spec(spec)
    workdir = _workdir(cwd)
    try:
        proc = await asyncio.create_subprocess_exec(
            *_child_command(spec),
            cwd=workdir,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise RoutesError(f"cannot start the introspection process: {exc}") from None
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        raise _timeout_error(spec, timeout, None) from None
    finally:
        # On timeout or cancellation, never leave the user's code running behind us.
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return _parse_result(spec, proc.returncode, stdout, stderr)


def _workdir(cwd: Path | None) -> Path:
    workdir = Path.cwd() if cwd is None else Path(cwd)
    if not workdir.is_dir():
        raise RoutesError(f"working directory {str(workdir)!r} is not a directory")
    return workdir


def _child_command(spec: str) -> list[str]:
    return [sys.executable, "-m", "livewatch.sources.routes", spec]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Libraries (NiceGUI among them) act differently under pytest; the child is no test.
    env.pop("PYTEST_CURRENT_TEST", None)
    # Run from a checkout, livewatch must be findable from the user's cwd too: PYTHONPATH
    # comes after the cwd that `-m` puts first, so our dir never shadows the user's modules.
    # Installed, it is in site-packages already, which must not jump ahead of the stdlib.
    if _LIVEWATCH_ROOT not in _SITE_DIRS:
        extra = [str(_LIVEWATCH_ROOT), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, extra))
    env["PYTHONIOENCODING"] = "utf-8"  # We decode the child's pipes as UTF-8 on every OS.
    return env


def _tail(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode("utf-8", "replace").splitlines()
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return last[-_TAIL_CHARS:]


def _timeout_error(spec: str, timeout: float, stderr: bytes | None) -> RoutesError:
    tail = _tail(stderr)
    return RoutesError(f"introspecting {spec!r} timed out after {timeout:g}s{_suffix(tail)}")


def _suffix(tail: str) -> str:
    return f": {tail}" if tail else ""


def _parse_result(spec: str, returncode: int, stdout: bytes, stderr: bytes) -> TargetRoutes:
    tail = _tail(stderr)
    if returncode == 1 and tail:
        raise RoutesError(tail)  # The child summed up its failure on its last stderr line.
    if returncode != 0:
        raise RoutesError(
            f"introspecting {spec!r} failed with exit code {returncode}{_suffix(tail)}"
        )
    # The JSON is the last line: tolerate output that escaped the child's redirect (say,
    # from a thread the user's code started), as long as it ends before the JSON.
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        payload = json.loads(lines[-1])
        routes = [Route.model_validate(item) for item in payload["routes"]]
        watch_dir = Path(payload["watch_dir"]) if payload["watch_dir"] else None
    except (IndexError, KeyError, TypeError, ValueError, ValidationError) as exc:
        message = " ".join(str(exc).split())[:_TAIL_CHARS]
        raise RoutesError(f"introspecting {spec!r} gave unreadable output: {message}") from None
    return TargetRoutes(routes=routes, watch_dir=watch_dir)


# --- The child process ----------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _load(spec: str) -> tuple[Starlette, ModuleType]:
    module_name, attr = _split_spec(spec)
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        # The whole traceback goes to stderr for the logs; the summary line comes last.
        traceback.print_exc()
        raise RoutesError(f"cannot import {module_name!r}: {_one_line(exc)}") from None
    target: Any = module
    for name in attr.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise RoutesError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(target, Starlette):
        kind = type(target).__name__
        raise RoutesError(f"{spec!r} is not a FastAPI/Starlette app (it is a {kind})")
    return target, module


def _watch_dir(module: ModuleType) -> Path | None:
    """The top-level package's directory, or a top-level single-file module's parent dir."""
    top = sys.modules[module.__name__.partition(".")[0]]
    module_file = Path(module.__file__).resolve() if getattr(module, "__file__", None) else None
    package_dirs = [Path(entry).resolve() for entry in getattr(top, "__path__", [])]
    if package_dirs:
        # A namespace package spans several dirs: prefer the one holding the target.
        holding = [d for d in package_dirs if module_file and module_file.is_relative_to(d)]
        return (holding or package_dirs)[0]
    top_file = getattr(top, "__file__", None)
    return Path(top_file).resolve().parent if top_file else None


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send all stdout to stderr meanwhile: stdout is reserved for the child's JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)  # C extensions and subprocesses write to fd 1, bypassing `sys.stdout`.
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    """Child entry point: print the target's routes as one JSON line on stdout."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m livewatch.sources.routes module:attribute", file=sys.stderr)
        return 2
    # Import the user's modules from their directory first, as uvicorn does.
    if sys.path[:1] != [os.getcwd()]:
        sys.path.insert(0, os.getcwd())
    try:
        with _stdout_to_stderr():
            app, module = _load(args[0])
            routes = introspect(app)
            watch_dir = _watch_dir(module)
    except RoutesError as exc:
        print(exc, file=sys.stderr)
        return 1
    payload = {
        "routes": [route.model_dump() for route in routes],
        "watch_dir": str(watch_dir) if watch_dir else None,
    }
    print(json.dumps(payload), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
