"""`GET /api/alerts`: the newest alerts and how their delivery went (the panel's feed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from livewatch import runtime

router = APIRouter()


@router.get("/api/alerts", tags=["alerts"])
async def list_alerts(
    limit: Annotated[int, Query(ge=1, le=50, description="at most this many, newest first")] = 50,
) -> dict[str, Any]:
    """Each alert: key, event, adw_id, status, phase, text, url, created_ms, delivery
    (pending, delivered, failed; none without a webhook), attempts, last_error."""
    alerts = runtime.current().alerts
    if alerts is None:
        return {"alerts": [], "state": "off"}
    return {"alerts": alerts.newest(limit), "state": alerts.state}
