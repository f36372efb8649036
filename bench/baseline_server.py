"""The seed-style baseline: what livewatch is measured against, written from the seed's description.

A FastAPI app run with uvicorn. A background watcher rescans every `agents/<id>/adw_state.json`
(and the phase folders) every 2 s, compares the JSON-serialized list to the last one and, when
it differs, broadcasts `{"type": "workflows_update", "data": [...]}` to every connected client
of `/ws/workflows`, one after another, as the seed's ConnectionManager does. A client gets the
current list on connect; `GET /api/workflows` returns it too.

Like the seed, the scan is plain synchronous code called from the async watcher, so it runs on
the event loop. One kindness: a connecting client is sent the watcher's last list instead of
a fresh scan of its own (with 1,000 clients, a scan per connect would take minutes).

Run: `python bench/baseline_server.py --agents-dir DIR --port P [--interval 2] [--github-repo R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

PHASES = ("plan", "build", "test", "review", "document", "ship")

log = logging.getLogger("baseline")


def get_workflows_data(agents_dir: Path, github_repo: str | None) -> list[dict[str, Any]]:
    """The seed's scan: adw_id, issue_number, phase, github_url for every workflow folder."""
    workflows: list[dict[str, Any]] = []
    if not agents_dir.is_dir():
        return workflows
    for adw_dir in sorted(agents_dir.iterdir()):
        if not adw_dir.is_dir():
            continue
        state_file = adw_dir / "adw_state.json"
        if not state_file.exists():
            continue
        try:
            with open(state_file, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        phase = "plan"
        for candidate in PHASES:  # the latest phase whose folder exists
            if (adw_dir / f"adw_{candidate}_iso").is_dir():
                phase = candidate
        issue = state.get("issue_number")
        issue_number = int(issue) if isinstance(issue, str) and issue.isdigit() else issue
        github_url = (
            f"https://github.com/{github_repo}/issues/{issue_number}"
            if github_repo and issue_number is not None
            else None
        )
        workflows.append(
            {
                "adw_id": state.get("adw_id", adw_dir.name),
                "issue_number": issue_number,
                "phase": phase,
                "github_url": github_url,
            }
        )
    return workflows


class ConnectionManager:
    """A set of websockets; a broadcast sends to each in turn."""

    def __init__(self) -> None:
        self.active_connections: set[WebSocket] = set()
        self.latest: list[dict[str, Any]] | None = None

    async def connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.active_connections.add(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        self.active_connections.discard(websocket)

    async def broadcast(self, message: dict[str, Any]) -> None:
        dead = []
        for connection in list(self.active_connections):
            try:
                await connection.send_json(message)
            except Exception:
                dead.append(connection)
        for connection in dead:
            self.disconnect(connection)
        log.info("[WS] Broadcasted update to %d clients", len(self.active_connections))


def create_app(agents_dir: Path, github_repo: str | None, interval: float) -> FastAPI:
    manager = ConnectionManager()

    def scan() -> list[dict[str, Any]]:
        return get_workflows_data(agents_dir, github_repo)

    async def watch_workflows() -> None:
        last_text: str | None = None
        while True:
            try:
                data = scan()
                text = json.dumps(data)
                if text != last_text:
                    last_text = text
                    manager.latest = data
                    await manager.broadcast({"type": "workflows_update", "data": data})
            except Exception:
                log.exception("[WATCH] scan failed")
            await asyncio.sleep(interval)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(watch_workflows())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/workflows")
    async def list_workflows() -> list[dict[str, Any]]:
        return manager.latest if manager.latest is not None else scan()

    @app.websocket("/ws/workflows")
    async def workflows_socket(websocket: WebSocket) -> None:
        await manager.connect(websocket)
        try:
            data = manager.latest if manager.latest is not None else scan()
            await websocket.send_json({"type": "workflows_update", "data": data})
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            manager.disconnect(websocket)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--github-repo", default=os.environ.get("GITHUB_REPO"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    app = create_app(args.agents_dir, args.github_repo, args.interval)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
