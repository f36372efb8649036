"""Route introspection: in-process for an app in hand, in a child process for a user's app."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.routing import Route as StarletteRoute
from starlette.staticfiles import StaticFiles

from livewatch.hub.records import Route
from livewatch.sources.routes import (
    RoutesError,
    TargetRoutes,
    introspect,
    introspect_target,
    introspect_target_async,
)


def keys(routes: list[Route]) -> list[tuple[str, str]]:
    return [(route.method, route.path) for route in routes]


# --- introspect(app) -----------------------------------------------------------------------


def test_each_method_of_a_path_is_one_record() -> None:
    app = FastAPI()

    @app.get("/items")
    def list_items() -> list[str]:
        return []

    @app.post("/items")
    def create_item() -> None: ...

    assert introspect(app) == [
        Route(path="/items", method="GET", handler="list_items"),
        Route(path="/items", method="POST", handler="create_item"),
    ]


def test_head_and_options_are_left_out() -> None:
    app = FastAPI()
    app.add_api_route("/ping", lambda: "pong", methods=["GET", "HEAD", "OPTIONS"])

    assert keys(introspect(app)) == [("GET", "/ping")]


def test_a_websocket_route_has_method_ws() -> None:
    app = FastAPI()

    @app.websocket("/ws/live")
    async def live(websocket: WebSocket) -> None: ...

    assert introspect(app) == [Route(path="/ws/live", method="WS", handler="live")]


def test_the_docstrings_first_line_is_the_description() -> None:
    app = FastAPI()

    @app.get("/health")
    def health() -> str:
        """

        Tell whether the service is up.

        The body is ignored.
        """
        return "ok"

    @app.get("/quiet")
    def quiet() -> None: ...

    descriptions = {route.path: route.description for route in introspect(app)}
    assert descriptions == {"/health": "Tell whether the service is up.", "/quiet": ""}


def test_the_docs_and_openapi_paths_are_left_out() -> None:
    app = FastAPI()  # Serves /docs, /docs/oauth2-redirect, /redoc and /openapi.json.
    app.get("/")(lambda: "home")

    assert keys(introspect(app)) == [("GET", "/")]


def test_moved_docs_are_left_out_and_freed_paths_are_kept() -> None:
    app = FastAPI(docs_url="/api/docs", redoc_url=None, openapi_url="/api/schema.json")

    @app.get("/redoc")
    def my_own_redoc() -> None: ...

    assert keys(introspect(app)) == [("GET", "/redoc")]


def test_nicegui_internal_paths_are_left_out() -> None:
    app = FastAPI()
    app.get("/_nicegui/client/{id}")(lambda id: id)
    app.get("/_nicegui_ws/socket")(lambda: None)
    app.get("/dashboard")(lambda: None)

    assert keys(introspect(app)) == [("GET", "/dashboard")]


def test_an_included_router_keeps_its_prefix() -> None:
    router = APIRouter(prefix="/users")

    @router.get("/{user_id}")
    def get_user(user_id: int) -> int:
        """Fetch one user."""
        return user_id

    app = FastAPI()
    app.include_router(router, prefix="/api")

    assert introspect(app) == [
        Route(
            path="/api/users/{user_id}",
            method="GET",
            handler="get_user",
            description="Fetch one user.",
        )
    ]


def test_routers_nested_in_routers_are_flattened() -> None:
    # FastAPI >= 0.137 keeps included routers as tree nodes in `app.routes`, not copies.
    events = APIRouter(prefix="/events")

    @events.websocket("/stream")
    async def stream(websocket: WebSocket) -> None: ...

    api = APIRouter(prefix="/api")
    api.include_router(events)
    api.get("/version")(lambda: "1")
    app = FastAPI()
    app.include_router(api)

    assert keys(introspect(app)) == [("WS", "/api/events/stream"), ("GET", "/api/version")]


def test_mounted_routers_are_walked_and_static_files_skipped(tmp_path: Path) -> None:
    def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hi")

    sub = FastAPI()  # A mounted FastAPI app: its own /docs and friends are left out too.
    sub.get("/status")(lambda: "ok")

    app = Starlette(
        routes=[
            Mount("/v1", routes=[StarletteRoute("/hello", hello)]),
            Mount("/sub", app=sub),
            Mount("/static", app=StaticFiles(directory=tmp_path)),
        ]
    )

    assert keys(introspect(app)) == [("GET", "/sub/status"), ("GET", "/v1/hello")]


def test_a_class_endpoint_lists_the_methods_it_defines() -> None:
    class Thing(HTTPEndpoint):
        """A thing you can read and replace."""

        async def get(self, request: object) -> PlainTextResponse:
            return PlainTextResponse("thing")

        async def put(self, request: object) -> PlainTextResponse:
            return PlainTextResponse("replaced")

    app = Starlette(routes=[StarletteRoute("/thing", Thing)])

    assert introspect(app) == [
        Route(
            path="/thing",
            method=m,
            handler="Thing",
            description="A thing you can read and replace.",
        )
        for m in ("GET", "PUT")
    ]


def test_the_order_is_by_path_then_method_whatever_the_registration_order() -> None:
    app = FastAPI()
    for path, method in [("/b", "POST"), ("/a", "PUT"), ("/b", "DELETE"), ("/a", "GET")]:
        app.add_api_route(path, lambda: None, methods=[method])

    assert keys(introspect(app)) == [("GET", "/a"), ("PUT", "/a"), ("DELETE", "/b"), ("POST", "/b")]


# --- introspect_target(spec): the user's app, in a child process -----------------------------

SERVER = '''
from fastapi import FastAPI

print("noise")  # The user's prints must not spoil the child's JSON.

app = FastAPI()


@app.get("/items")
def list_items():
    """List all items."""
    return []
'''

NEW_ROUTE = '''

@app.delete("/items/{item_id}")
def delete_item(item_id: int):
    """Delete one item."""
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: the package `myapp` with its app in `myapp/server.py`."""
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "server.py").write_text(SERVER)
    return tmp_path


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


def test_a_target_is_introspected_without_importing_it_here(project: Path) -> None:
    target = introspect_target("myapp.server:app", cwd=project)

    assert target == TargetRoutes(
        routes=[
            Route(path="/items", method="GET", handler="list_items", description="List all items.")
        ],
        watch_dir=project / "myapp",
    )
    assert "myapp" not in sys.modules
    assert "myapp.server" not in sys.modules


async def test_the_async_form_gives_the_same(project: Path) -> None:
    target = await introspect_target_async("myapp.server:app", cwd=project)

    assert target == introspect_target("myapp.server:app", cwd=project)
    assert "myapp" not in sys.modules


async def test_an_edit_shows_on_the_next_call(project: Path) -> None:
    before = await introspect_target_async("myapp.server:app", cwd=project)
    with (project / "myapp" / "server.py").open("a") as server:
        server.write(NEW_ROUTE)
    after = await introspect_target_async("myapp.server:app", cwd=project)

    assert keys(before.routes) == [("GET", "/items")]
    assert keys(after.routes) == [("GET", "/items"), ("DELETE", "/items/{item_id}")]


def test_a_single_file_module_watches_its_own_dir(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "main",
        """
        from fastapi import FastAPI

        class Holder:
            app = FastAPI()

        Holder.app.get("/")(lambda: "home")
        """,
    )

    target = introspect_target("main:Holder.app", cwd=tmp_path)  # The attribute may be dotted.

    assert keys(target.routes) == [("GET", "/")]
    assert target.watch_dir == tmp_path


def test_a_nicegui_app_lists_its_pages_but_not_its_internals(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "dashboard",
        """
        from nicegui import app, ui

        @ui.page("/")
        def index():
            \"\"\"The start page.\"\"\"
            ui.label("hello")

        @app.get("/api/ping")
        def ping():
            return "pong"
        """,
    )

    target = introspect_target("dashboard:app", cwd=tmp_path)

    assert target.routes == [
        Route(path="/", method="GET", handler="index", description="The start page."),
        Route(path="/api/ping", method="GET", handler="ping"),
    ]


@pytest.mark.parametrize("spec", ["myapp.server", "myapp.server:", ":app", "my-app:app", "a:b:c"])
def test_a_bad_spec_is_refused_before_any_process_starts(spec: str) -> None:
    with pytest.raises(RoutesError, match=r"bad app spec .*expected 'module:attribute'"):
        introspect_target(spec)


def test_a_missing_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(RoutesError) as error:
        introspect_target("nosuch:app", cwd=tmp_path)

    assert str(error.value) == (
        "cannot import 'nosuch': ModuleNotFoundError: No module named 'nosuch'"
    )


async def test_a_missing_attribute_is_named(project: Path) -> None:
    with pytest.raises(RoutesError) as error:
        await introspect_target_async("myapp.server:application", cwd=project)

    assert str(error.value) == "module 'myapp.server' has no attribute 'application'"


def test_an_attribute_that_is_not_an_app_is_refused(tmp_path: Path) -> None:
    write_module(tmp_path, "settings", "app = {'debug': True}\n")

    with pytest.raises(RoutesError) as error:
        introspect_target("settings:app", cwd=tmp_path)

    assert str(error.value) == "'settings:app' is not a FastAPI/Starlette app (it is a dict)"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("raise RuntimeError('no database configured')\n", "RuntimeError: no database configured"),
        ("import requests_that_do_not_exist\n", "No module named 'requests_that_do_not_exist'"),
        ("def broken(:\n", "SyntaxError: "),
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ],
)
async def test_a_module_that_fails_at_import_is_reported_in_one_line(
    tmp_path: Path, source: str, message: str
) -> None:
    write_module(tmp_path, "broken", source)

    with pytest.raises(RoutesError) as error:
        await introspect_target_async("broken:app", cwd=tmp_path)

    assert str(error.value).startswith("cannot import 'broken': ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_hanging_import_times_out_and_the_child_is_killed(
    tmp_path: Path, mode: str
) -> None:
    write_module(
        tmp_path,
        "slow",
        """
        import os, pathlib, time
        pathlib.Path("child.pid").write_text(str(os.getpid()))
        time.sleep(30)
        """,
    )

    # 5 s, not less: on a loaded machine the child must first get as far as writing its pid.
    with pytest.raises(RoutesError, match=r"^introspecting 'slow:app' timed out after 5s"):
        if mode == "sync":
            introspect_target("slow:app", cwd=tmp_path, timeout=5)
        else:
            await introspect_target_async("slow:app", cwd=tmp_path, timeout=5)

    with pytest.raises(ProcessLookupError):
        os.kill(int((tmp_path / "child.pid").read_text()), 0)


async def test_a_cancelled_call_kills_the_child(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "slow",
        """
        import os, pathlib, time
        pathlib.Path("child.pid").write_text(str(os.getpid()))
        time.sleep(30)
        """,
    )
    task = asyncio.create_task(introspect_target_async("slow:app", cwd=tmp_path))
    pid_file = tmp_path / "child.pid"
    # Created before it is written: wait for the number, not just the file (CI saw it empty).
    while not (pid_file.exists() and pid_file.read_text()):
        await asyncio.sleep(0.05)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_output_written_below_print_stays_off_the_json(tmp_path: Path) -> None:
    write_module(
        tmp_path,
        "chatty",
        """
        import os, subprocess, sys
        from fastapi import FastAPI

        os.write(1, b"straight to fd 1, no newline")
        subprocess.run([sys.executable, "-c", "print('from a subprocess')"])
        app = FastAPI()
        """,
    )

    assert introspect_target("chatty:app", cwd=tmp_path).routes == []


def test_a_missing_working_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RoutesError, match="is not a directory"):
        introspect_target("myapp.server:app", cwd=tmp_path / "gone")
