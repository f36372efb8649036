"""The alerts panel (newest alerts and how their delivery went, live) and the header's
opt-in browser notifications. Shown on `/alerts` and under the workflows table on `/`.

The rows come ready from the alert service's feed (`runtime.current().alerts.feed`); this
module only lays them out. Alerts are rare, so a change re-renders the panel's few rows.
"""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui
from nicegui.client import Client

from livewatch import runtime
from livewatch.hub.collection import Change

from .layout import follow

EVENT_COLORS = {
    "failed": "red",
    "stalled": "orange",
    "completed": "green",
    "error": "deep-orange",
    "cost": "purple",
}
DELIVERY_COLORS = {"pending": "blue-grey", "delivered": "green", "failed": "red", "none": "grey"}

NOTIFY_KEY = "livewatch-notify"
# On the icon: the button's own `text-white` (Quasar, !important) would win on the button.
NOTIFY_CSS = '[data-testid="notify-toggle"][data-enabled="true"] .q-icon { color: #facc15; }'
# The browser half of the notify toggle: the choice is remembered per browser, and it needs
# the Notification API's permission, asked for on the click that turns it on.
NOTIFY_SCRIPT = """
<script>
(() => {
  const KEY = "__KEY__";
  const granted = () => "Notification" in window && Notification.permission === "granted";
  window.lwNotifyOn = () => localStorage.getItem(KEY) === "1" && granted();
  window.lwShowNotify = () => {
    for (const el of document.querySelectorAll('[data-testid="notify-toggle"]')) {
      const on = window.lwNotifyOn();
      el.dataset.enabled = on ? "true" : "false";
      el.setAttribute("aria-pressed", on ? "true" : "false");
    }
  };
  window.lwToggleNotify = async () => {
    if (localStorage.getItem(KEY) === "1") {
      localStorage.setItem(KEY, "0");
    } else if ("Notification" in window) {
      const answer = granted() ? "granted" : await Notification.requestPermission();
      localStorage.setItem(KEY, answer === "granted" ? "1" : "0");
    }
    window.lwShowNotify();
  };
  window.lwNotify = (alerts) => {
    if (!window.lwNotifyOn()) return;
    for (const a of alerts) new Notification(a.title, { body: a.body, tag: a.key });
  };
})();
</script>
"""


def _alerts() -> Any:
    return runtime.current().alerts


def alerts_panel(limit: int = 10) -> None:
    """The newest `limit` alerts, kept live for this tab."""
    alerts = _alerts()
    with ui.column().classes("w-full gap-1"):
        ui.label("Alerts").classes("text-lg font-bold")
        rows = ui.column().classes("w-full gap-0").props("data-testid=alerts-list")
    if alerts is None:
        return

    def render() -> None:
        rows.clear()
        with rows:
            shown = alerts.newest(limit)
            if not shown:
                ui.label("No alerts yet").classes("text-grey-7").props("data-testid=alerts-empty")
            for alert in shown:
                _row(alert)

    async def on_change(_: list[Change]) -> None:
        render()

    render()
    follow(alerts.feed, on_change)


def _row(alert: dict[str, Any]) -> None:
    event, delivery = str(alert["event"]), str(alert["delivery"])
    row = ui.row().classes("w-full items-center gap-2 no-wrap lw-line")
    row.props["data-testid"] = "alert-row"
    row.props["data-event"] = event
    row.props["data-delivery"] = delivery
    row.props["data-key"] = alert["key"]
    with row:
        ui.badge(event, color=EVENT_COLORS.get(event, "grey"))
        ui.link(str(alert["adw_id"]), f"/workflows/{alert['adw_id']}").classes("lw-mono")
        ui.label(str(alert["text"] or "")).classes("lw-line-text grow")
        status = ui.badge(delivery, color=DELIVERY_COLORS.get(delivery, "grey"))
        status.props("data-testid=alert-delivery")
        if alert.get("last_error"):  # our own words ("HTTP 500"), never the URL
            status.tooltip(f"{alert['attempts']} attempts; last: {alert['last_error']}")
        ui.element("span").classes("lw-age").props(f"data-ts={int(alert['created_ms'])}")


def notify_toggle() -> None:
    """The header's bell: opt in to browser notifications of failed and stalled runs while
    the dashboard is open. Each tab hears of new alerts; the browser decides to show them."""
    ui.add_css(NOTIFY_CSS)
    ui.add_body_html(NOTIFY_SCRIPT.replace("__KEY__", NOTIFY_KEY))
    ui.button(icon="notifications").props(
        "flat round dense color=white data-testid=notify-toggle data-enabled=false "
        'aria-label="Browser notifications for failed and stalled runs"'
    ).on("click", js_handler="() => window.lwToggleNotify()")
    ui.timer(0.1, lambda: ui.run_javascript("window.lwShowNotify()"), once=True)
    alerts = _alerts()
    if alerts is None:
        return
    client = ui.context.client
    seen = {row["key"] for row in alerts.feed.records()}

    async def on_change(_: list[Change]) -> None:
        fresh = [r for r in alerts.newest() if r["key"] not in seen]
        seen.update(r["key"] for r in fresh)
        if notes := [_note(r) for r in fresh if r.get("notify")]:
            _send(client, notes)

    follow(alerts.feed, on_change)


def _note(alert: dict[str, Any]) -> dict[str, str]:
    return {
        "key": str(alert["key"]),
        "title": f"livewatch: {alert['adw_id']} {alert['event']}",
        "body": str(alert["text"] or ""),
    }


def _send(client: Client, notes: list[dict[str, str]]) -> None:
    # json.dumps: the text is an agent's (untrusted); as a JSON literal it stays data.
    client.run_javascript(f"window.lwNotify({json.dumps(notes)})")
