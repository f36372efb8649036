"""Compose the one process: NiceGUI's app with the raw API, the pages and the runtime."""

from __future__ import annotations

import logging

from nicegui import app, ui

from livewatch import api, routes, runtime
from livewatch.page_loader import bundled_pages_dir, load_pages
from livewatch.settings import Settings

log = logging.getLogger("livewatch")

# Applies to every WebSocket, NiceGUI's socket.io too; /ws/* enforce their own 64 KB limit.
MAX_WS_FRAME = 1024 * 1024


def create(settings: Settings) -> runtime.Runtime:
    """Wire the API, the pages and the watchers onto NiceGUI's app (once per process)."""
    app.include_router(api.router)
    rt = runtime.Runtime.build(settings, own_routes=lambda: routes.introspect(app))
    runtime.install(rt)
    app.on_startup(rt.start)
    app.on_shutdown(rt.shutdown)
    if (bundled := bundled_pages_dir()) is not None:
        load_pages(bundled, "livewatch.pages")
    if settings.pages is not None:
        load_pages(settings.pages, "livewatch_user_pages")
    return rt


def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    rt = create(settings)
    rt.prime()
    log.info(
        "[STARTUP] %d workflows from %s; serving http://%s:%d",
        len(rt.hub.workflows),
        settings.agents_dir.absolute(),
        settings.host,
        settings.port,
    )
    ui.run(
        host=settings.host,
        port=settings.port,
        title="livewatch",
        reload=False,
        show=False,
        fastapi_docs=True,
        dark=None,
        show_welcome_message=False,
        uvicorn_logging_level="warning",
        ws_max_size=MAX_WS_FRAME,
        # Deflate compresses each message again for every client, which defeats encoding a
        # change once for all of them; the messages it would shrink are rare (snapshots).
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=3,
    )
