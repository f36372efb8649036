"""The raw outlets: `/api/*` REST and `/ws/*` WebSockets, seed-compatible."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from livewatch import metrics, runtime
from livewatch.hub import protocol
from livewatch.hub.collection import Collection
from livewatch.hub.records import RoutesList, Workflow, WorkflowDetail
from livewatch.outlets.health import health
from livewatch.outlets.session import CollectionSession

log = logging.getLogger("livewatch.api")

router = APIRouter()
STARTED_AT = time.time()


def _list_response(request: Request, collection: Collection) -> Response:
    """The list as JSON, or 304 when the poller already has this version (ETag)."""
    tag = protocol.etag(collection)
    # The position the list was taken at lets a polling client resume protocol 2 from it.
    headers = {
        "ETag": tag,
        "Cache-Control": "no-cache",
        "X-Livewatch-Seq": str(collection.seq),
        "X-Livewatch-Epoch": collection.epoch,
    }
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    return Response(protocol.list_body(collection), media_type="application/json", headers=headers)


def not_found(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=404)


@router.get("/api/workflows", response_model=list[Workflow], tags=["workflows"])
async def list_workflows(request: Request) -> Response:
    """All workflows: the REST fallback for /ws/workflows."""
    return _list_response(request, runtime.current().hub.workflows)


@router.get(
    "/api/workflows/{adw_id}",
    response_model=WorkflowDetail,
    responses={404: {"description": "No such workflow"}},
    tags=["workflows"],
)
async def get_workflow(adw_id: str) -> Response:
    """One workflow with its full state, phases, agents and log tails."""
    rt = runtime.current()
    detail = await asyncio.to_thread(rt.workflow_detail, adw_id)
    if detail is None:
        return not_found(f"no workflow {adw_id!r}")
    return Response(detail.model_dump_json(), media_type="application/json")


@router.get("/api/routes", response_model=RoutesList, tags=["routes"])
async def list_routes(request: Request) -> Response:
    """The app's routes: the REST fallback for /ws/routes."""
    return _list_response(request, runtime.current().hub.routes)


@router.get("/healthz", tags=["operations"])
async def healthz() -> JSONResponse:
    """Watcher states, clients and freshness: 200 when healthy, 503 when not."""
    healthy, report = health(runtime.current(), STARTED_AT)
    return JSONResponse(report, status_code=200 if healthy else 503)


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
async def prometheus_metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.api_route(
    "/api/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    name="livewatch:plumbing",  # left out of the route list, like NiceGUI's own internals
)
async def unknown_api(path: str) -> JSONResponse:
    """Unknown API paths get JSON, never the HTML page."""
    return not_found(f"no API endpoint /api/{path}")


@router.websocket("/ws/workflows")
async def workflows_socket(websocket: WebSocket) -> None:
    """Live workflows: the seed's full lists, or protocol 2's snapshot and deltas."""
    await _serve(websocket, "workflows")


@router.websocket("/ws/routes")
async def routes_socket(websocket: WebSocket) -> None:
    """Live routes: the seed's full lists, or protocol 2's snapshot and deltas."""
    await _serve(websocket, "routes")


async def _serve(websocket: WebSocket, name: str) -> None:
    rt = runtime.current()
    await CollectionSession(
        websocket,
        rt.hub.collection(name),
        heartbeat_s=rt.settings.heartbeat_s,
        send_timeout_s=rt.settings.send_timeout_s,
    ).run()
