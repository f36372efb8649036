"""The frame every page shares: the header, the honest connection indicator, live plumbing.

The connection indicator is computed in the browser from NiceGUI's own socket.io client,
because a dead server cannot report its own death. A small script wraps `window.io` before
NiceGUI creates the socket, to shorten socket.io's reconnection delays (capped at 1 s) and
its connect timeout (so a blocked WebSocket falls back to long-polling within seconds), and
re-renders the indicator on every socket event. The same script ticks the relative-time
labels (`[data-ts]`) every second, so "Updated 12s ago" needs no server push.

Beside the indicator, the round-trip time: every 15 s a shown tab emits a
`livewatch_ping` over that same socket.io connection and times the ack, which our handler
on NiceGUI's socket.io server sends back at once. It measures what the page lives on: the
network, any proxy, and how busy the server's event loop is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nicegui import background_tasks, core, ui
from nicegui.client import Client
from nicegui.element import Element

from livewatch import runtime
from livewatch.hub import views
from livewatch.hub.collection import Change, Collection, Subscription, SubscriptionState

log = logging.getLogger("livewatch.pages")

NAV: tuple[tuple[str, str, str], ...] = (
    ("/", "Workflows", "nav-workflows"),
    ("/events", "Events", "nav-events"),
    ("/history", "History", "nav-history"),
    ("/routes", "Routes", "nav-routes"),
    ("/alerts", "Alerts", "nav-alerts"),
)

# socket.io-client Manager options. Its defaults back off to 5 s with ±50% jitter and wait
# 20 s for a connection; ours retry at least once a second and give up on a silent
# WebSocket after 3 s, when NiceGUI's connect_error handler switches to long-polling.
SOCKET_OPTIONS = {
    "reconnectionDelay": 250,
    "reconnectionDelayMax": 1000,
    "randomizationFactor": 0.2,
    "timeout": 3000,
}

# The round-trip probe: how often a shown tab sends it, and how long an ack may take before
# we show a dash. Each costs the server ~0.5 ms; a hidden tab sends none until it is shown.
PING_EVERY_MS = 15000
PING_TIMEOUT_MS = 2000

# How often a replica's header looks at its link to Redis (it only pushes a change).
BROKER_POLL_SECONDS = 1.0

# How long a page waits after a change before it renders, to fold bursts into one update.
SETTLE_SECONDS = 0.1

CONNECTION_LABELS = {
    "live": "Live updates",
    "polling": "Polling fallback",
    "reconnecting": "Reconnecting...",
}

# The few Tailwind utilities the pages use, as plain CSS. The server runs NiceGUI without
# Tailwind: its in-browser compiler watches every DOM change for class names, and on
# `/events` (a tick of new rows ten times a second) it took half of Chromium's busy time.
UTILITY_CSS = """
.w-full { width: 100% !important; } .w-1\\/2 { width: 50% !important; }
.w-40 { width: 10rem !important; } .w-44 { width: 11rem !important; }
.w-72 { width: 18rem !important; } .w-80 { width: 20rem !important; }
.gap-0 { gap: 0 !important; } .gap-1 { gap: .25rem !important; }
.gap-2 { gap: .5rem !important; } .gap-3 { gap: .75rem !important; }
.gap-4 { gap: 1rem !important; } .gap-x-6 { column-gap: 1.5rem !important; }
.gap-y-1 { row-gap: .25rem !important; }
.px-4 { padding-left: 1rem !important; padding-right: 1rem !important; }
.py-2 { padding-top: .5rem !important; padding-bottom: .5rem !important; }
.text-xs { font-size: .75rem; line-height: 1rem; }
.text-sm { font-size: .875rem; line-height: 1.25rem; }
.text-lg { font-size: 1.125rem; line-height: 1.75rem; }
.text-xl { font-size: 1.25rem; line-height: 1.75rem; }
.text-2xl { font-size: 1.5rem; line-height: 2rem; }
.font-bold { font-weight: 700; } .tracking-wide { letter-spacing: .025em; }
.break-all { word-break: break-all; } .grow { flex-grow: 1; }
.no-underline { text-decoration-line: none; } .bg-slate-800 { background-color: #1e293b; }
"""

CSS = (
    UTILITY_CSS
    + """
#popup { display: none !important; }  /* our indicator replaces "Connection lost" */
.lw-conn { display: inline-flex; align-items: center; gap: .4rem; font-size: .85rem; }
.lw-dot { position: relative; width: .65rem; height: .65rem; border-radius: 9999px;
  background: #9ca3af; }
.lw-conn[data-state="live"] .lw-dot { background: #22c55e; }
/* The ring is its own layer and moves by transform and opacity only: the compositor runs it,
   so a tab left open repaints nothing (box-shadow repainted the page 60 times a second). */
.lw-conn[data-state="live"] .lw-dot::after { content: ""; position: absolute; inset: 0;
  border-radius: inherit; background: rgba(34, 197, 94, .6); will-change: transform, opacity;
  animation: lw-pulse 2s infinite; }
.lw-conn[data-state="polling"] .lw-dot { background: #eab308; }
.lw-rtt { font-size: .75rem; opacity: .75; min-width: 3rem; font-variant-numeric: tabular-nums; }
@keyframes lw-pulse {
  0% { transform: scale(1); opacity: 1; }
  70%, 100% { transform: scale(2.4); opacity: 0; }
}
.lw-steps { display: inline-flex; align-items: center; gap: 2px; }
.lw-step { width: 1.3rem; height: 1.3rem; border-radius: 9999px; font-size: .7rem;
  display: inline-flex; align-items: center; justify-content: center; color: white; }
.lw-d { background: #22c55e; }
.lw-c { background: #3b82f6; }
.lw-p { background: #d1d5db; color: #4b5563; }
.body--dark .lw-p { background: #4b5563; color: #d1d5db; }
.lw-error { color: #dc2626; font-size: .75rem; max-width: 22rem; white-space: normal; }
.lw-mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.lw-page { width: 100%; max-width: 80rem; margin: 0 auto; padding: 1rem; }
.lw-log { max-height: 16rem; overflow: auto; font-size: .75rem; white-space: pre-wrap; }
.lw-now { max-width: 24rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  font-size: .8rem; }
.lw-age, .lw-tokens { font-size: .7rem; opacity: .7; }
.lw-transcript-lines { max-height: 28rem; overflow: auto; font-size: .8rem; }
.lw-line { border-top: 1px solid rgba(156, 163, 175, .2); padding: .15rem .25rem; }
.lw-line-head { cursor: pointer; display: flex; gap: .5rem; white-space: nowrap; overflow: hidden; }
.lw-line-tool { font-weight: 600; }
.lw-line-text { overflow: hidden; text-overflow: ellipsis; }
.lw-line-error { color: #dc2626; }
.lw-payload { font-size: .75rem; max-height: 20rem; overflow: auto; white-space: pre-wrap;
  word-break: break-all; background: rgba(156, 163, 175, .12); padding: .5rem; margin: .25rem 0; }
.lw-feed { width: 100%; }
.lw-feed-scroll { overflow: auto; contain: content; }
.lw-feed-table { width: 100%; font-size: .8rem; }
.lw-feed-body { box-sizing: border-box; }
.lw-feed-row { display: grid; align-items: center; box-sizing: border-box;
  grid-template-columns: 6rem 7rem 10rem 6.5rem 7rem minmax(0, 1fr); }
.lw-feed-row > * { padding: .2rem .5rem; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.lw-feed-body > .lw-feed-row { border-top: 1px solid rgba(156, 163, 175, .25); }
.lw-feed-head > * { font-weight: 600; opacity: .7; }
.lw-feed-error { color: #dc2626; }
.lw-kind { font-size: .7rem; padding: 0 .35rem; border-radius: .25rem;
  background: rgba(59, 130, 246, .15); }
.lw-kind-tool_result { background: rgba(34, 197, 94, .15); }
.lw-kind-error { background: rgba(220, 38, 38, .2); }
.lw-kind-result { background: rgba(234, 179, 8, .2); }
"""
)

# The browser half; `SERVER_NOW` lets relative times ignore clock skew between the two.
SCRIPT = """
<script type="module">
const OPTIONS = __OPTIONS__;
const LABELS = __LABELS__;
const PING_EVERY_MS = __PING_EVERY_MS__;
const PING_TIMEOUT_MS = __PING_TIMEOUT_MS__;
const FIRST_PING_MS = 500;
const DARK_KEY = "livewatch-dark";
// The page was rendered somewhere between its request and its first byte: the middle is the
// best guess at the server's clock until a ping measures it (on a slow load, Date.now() here
// is seconds past the render, and would make every relative time that much too young).
const NAV = performance.getEntriesByType("navigation")[0];
const RENDERED = NAV && NAV.responseStart > 0
  ? performance.timeOrigin + (NAV.requestStart + NAV.responseStart) / 2 : Date.now();
window.lwSkew = RENDERED - __SERVER_NOW__;
let skewRtt = NAV && NAV.responseStart > 0 ? NAV.responseStart - NAV.requestStart : Infinity;

// Mirrors livewatch.views.relative_time.
function ago(seconds) {
  if (!(seconds >= 5)) return "Just now";
  if (seconds < 60) return `${Math.floor(seconds)}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  return `${Math.floor(seconds / 3600)}h ago`;
}

function connectionState() {
  const socket = window.socket;
  if (!socket || !socket.connected) return "reconnecting";
  return socket.io.engine?.transport?.name === "websocket" ? "live" : "polling";
}

// The last round trip in ms, or null: none yet, the last one timed out, or disconnected.
window.lwRtt = null;

// Probes in a row that got no answer. engine.io's own pings come only every 25 s (they
// cost the server per tab); this probe is what finds a link that died silently (a sleeping
// laptop, a dropped NAT entry): one silence is tried again at once, a second one drops the
// transport, and socket.io reconnects.
let silent = 0;

function ping(socket) {
  if (!socket.connected) return;
  socket.timeout(PING_TIMEOUT_MS).emit("livewatch_ping", performance.now(), (err, echo) => {
    const [sent, serverNow] = Array.isArray(echo) ? echo : [echo, null];
    const received = performance.now();
    silent = err ? silent + 1 : 0;
    if (silent === 1) ping(socket);
    else if (silent >= 2 && socket.connected) {
      silent = 0;
      socket.io.engine.close();
    }
    window.lwRtt = err || typeof sent !== "number" ? null : Math.round(received - sent);
    // The server's clock was read about half-way through the round trip; the quickest trip
    // so far bounds the error best (NTP's rule).
    if (window.lwRtt !== null && typeof serverNow === "number" && window.lwRtt < skewRtt) {
      skewRtt = window.lwRtt;
      window.lwSkew = performance.timeOrigin + (sent + received) / 2 - serverNow;
    }
    render();
  });
}

function renderRtt(state) {
  const ms = state === "reconnecting" ? null : window.lwRtt;
  const text = ms === null ? "\\u2013" : `${ms} ms`;  // an en dash
  for (const el of document.querySelectorAll('[data-testid="connection-rtt"]')) {
    if (el.textContent !== text) el.textContent = text;
    if (ms === null) el.removeAttribute("data-rtt-ms");
    else if (el.dataset.rttMs !== String(ms)) el.dataset.rttMs = ms;
  }
}

function render() {
  const state = connectionState();
  for (const el of document.querySelectorAll('[data-testid="connection-status"]')) {
    if (el.dataset.state !== state) el.dataset.state = state;
    const text = el.querySelector(".lw-conn-text");
    if (text && text.textContent !== LABELS[state]) text.textContent = LABELS[state];
  }
  renderRtt(state);
  const now = Date.now() - window.lwSkew;
  for (const el of document.querySelectorAll("[data-ts]")) {
    const ts = Number(el.dataset.ts);
    const text = ts > 0 ? ago((now - ts) / 1000) : "";
    if (el.textContent !== text) el.textContent = text;
  }
}

// NiceGUI calls io() when the app mounts, after this module ran: wrap it to add our options.
const realIo = window.io;
window.io = Object.assign((url, options) => {
  const socket = realIo(url, { ...options, ...OPTIONS });
  socket.on("connect", () => {
    render();
    // Not at once: the first moments of a page keep both ends busy, which is no network delay.
    setTimeout(() => ping(socket), FIRST_PING_MS);
  });
  socket.on("disconnect", (reason) => {
    window.lwRtt = null;
    render();
    // socket.io does not retry after a server-side disconnect; we do, the page must recover.
    if (reason === "io server disconnect") {
      setTimeout(() => socket.connect(), OPTIONS.reconnectionDelay);
    }
  });
  socket.io.on("open", () => socket.io.engine.on("upgrade", render));
  socket.io.on("reconnect_attempt", render);
  socket.io.on("error", render);
  // No probe from a hidden tab: nobody reads its indicator. Shown again, it probes at once,
  // so a link that died meanwhile (a laptop that slept) is found within seconds.
  setInterval(() => { if (document.visibilityState !== "hidden") ping(socket); }, PING_EVERY_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") ping(socket);
  });
  return socket;
}, realIo);

let pending = false;
function renderSoon() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}
setInterval(render, 1000);

// Bar charts of counts per time bucket (the activity chart, the events pulse) move left here
// as time passes: the server sends a chart only when its counts change, so an idle tab is sent
// nothing. Mirrors livewatch.hub.views.slid. A `clock` chart's buckets are minutes, labelled
// "HH:MM" on the browser's clock.
const slides = new Map();  // chart element id -> {step, end, counts, clock, drawn}
window.lwSlide = (id, step, end, counts, clock = false) => {
  slides.set(id, { step, end, counts, clock, drawn: false });
  slide();
};
const minute = (s) => new Date(s * 1000).toTimeString().slice(0, 5);
function slide() {
  const now = (Date.now() - window.lwSkew) / 1000;
  for (const [id, s] of slides) {
    const el = getElement(id);
    if (!el) { slides.delete(id); continue; }  // the chart is gone
    const current = Math.floor(now / s.step) * s.step;
    const steps = Math.min(Math.round((current - s.end) / s.step), s.counts.length);
    if (steps > 0) {
      s.counts = s.counts.slice(steps).concat(new Array(steps).fill(0));
      s.end = current;
      s.drawn = false;
    }
    if (s.drawn || !el.chart) continue;  // ECharts may not be up yet: drawn at the next tick
    const option = { series: [{ data: s.counts }] };
    if (s.clock) {
      const n = s.counts.length;
      option.xAxis = { data: s.counts.map((_, i) => minute(s.end - (n - 1 - i) * s.step)) };
    }
    el.chart.setOption(option);
    s.drawn = true;
  }
}
setInterval(slide, 1000);

// The dashboard's activity chart and its total: the same for every tab in a time zone, so one
// message serves them all (pages/workflows.py ChartClock).
window.lwActivity = (step, end, counts, total, text) => {
  const chart = document.querySelector('[data-testid="activity-chart"]');
  if (chart) window.lwSlide(Number(chart.id.slice(1)), step, end, counts, true);
  for (const el of document.querySelectorAll('[data-testid="activity-total"]')) {
    el.textContent = text;
    el.dataset.total = total;
  }
};
document.addEventListener("DOMContentLoaded", () => {
  const dark = localStorage.getItem(DARK_KEY);
  if (dark !== null) Quasar.Dark.set(dark === "1");
  // New rows and new timestamps get their text at once, not at the next tick.
  new MutationObserver(renderSoon).observe(document.getElementById("app"), {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-ts"],
  });
  render();
});
window.lwToggleDark = () => {
  Quasar.Dark.toggle();
  localStorage.setItem(DARK_KEY, Quasar.Dark.isActive ? "1" : "0");
};
</script>
"""


def _script() -> str:
    return (
        SCRIPT.replace("__OPTIONS__", json.dumps(SOCKET_OPTIONS))
        .replace("__LABELS__", json.dumps(CONNECTION_LABELS))
        .replace("__SERVER_NOW__", str(int(time.time() * 1000)))
        .replace("__PING_EVERY_MS__", str(PING_EVERY_MS))
        .replace("__PING_TIMEOUT_MS__", str(PING_TIMEOUT_MS))
    )


@core.sio.on("livewatch_ping")
def _echo_ping(_sid: str, stamp: object = None) -> object:
    """The browser's round-trip probe: the ack carries its own stamp back (numbers only) and
    the server's clock, so relative times in the page need no agreement between clocks."""
    return [stamp, int(time.time() * 1000)] if isinstance(stamp, int | float) else None


@dataclass
class Header:
    """What a page may change in the shared header: the time of the last change."""

    last_updated: Element

    def touch(self, ts: float | None) -> None:
        """Show `ts` (epoch seconds) as the last change; the browser ticks the text.

        No change yet (an empty agents dir) means the page is as fresh as its render.
        """
        value = int((ts or time.time()) * 1000)
        if self.last_updated.props.get("data-ts") != value:
            self.last_updated.props["data-ts"] = value


async def run_in_tabs(code: str, client_ids: list[str]) -> None:
    """Run `code` in many tabs with one socket.io message, encoded once, not once per tab.

    It skips NiceGUI's outbox: no message id (NiceGUI's script takes it as is; ids are per
    tab, this is not), and no place in a reconnect's replay (see `on_reconnect`).
    """
    await core.sio.emit("run_javascript", {"code": code}, room=client_ids)


def on_reconnect(client: Client, callback: Callable[[], None]) -> None:
    """Call `callback` each time the tab's socket connects again (not the first time).

    What `run_in_tabs` sent is not in a reconnect's replay: the page sends its state again.
    """
    connects = [0]

    def connected() -> None:
        connects[0] += 1
        if connects[0] > 1:
            callback()

    client.on_connect(connected)


def frame(active: str, last_change_ts: float | None = None) -> Header:
    """The shared page frame: call first in every page function."""
    ui.add_css(CSS)
    ui.add_body_html(_script())
    with ui.header(elevated=True).classes("items-center gap-4 px-4 py-2 bg-slate-800"):
        ui.label("livewatch").classes("text-lg font-bold tracking-wide")
        with ui.row().classes("gap-3").props("data-testid=nav"):
            for path, label, test_id in NAV:
                link = ui.link(label, path).props(f"data-testid={test_id}")
                link.classes("text-white no-underline " + ("font-bold" if path == active else ""))
        ui.space()
        if broker_state() is not None:
            BrokerChip()
        connection_indicator()
        with ui.row().classes("items-center gap-1 text-sm"):
            ui.label("Updated")
            last_updated = ui.element("span").props("data-testid=last-updated")
        from .alerts_panel import notify_toggle  # late: the panel imports this module

        notify_toggle()
        ui.button(icon="contrast").props(
            'flat round dense color=white data-testid=dark-toggle aria-label="Toggle dark mode"'
        ).on("click", js_handler="() => window.lwToggleDark()")
    header = Header(last_updated)
    header.touch(last_change_ts)
    return header


def connection_indicator() -> Element:
    """A dot, a label and the round-trip time; the browser script owns them from here on."""
    with ui.row().classes("items-center gap-2 no-wrap"):
        with ui.element("div").classes("lw-conn") as indicator:
            indicator.props("data-testid=connection-status data-state=reconnecting role=status")
            ui.element("span").classes("lw-dot")
            ui.element("span").classes("lw-conn-text")
        ui.element("span").classes("lw-rtt").props(
            'data-testid=connection-rtt title="Round trip to the server"'
        )
    return indicator


def broker_state() -> str | None:
    """The replica's link to Redis; None in local mode (or before the broker existed)."""
    return getattr(runtime.current(), "broker_state", None)


class BrokerChip:
    """An orange chip while a replica cannot reach Redis; hidden otherwise.

    Only replicas get one: local mode has no broker, and no timer to poll it. The timer
    looks every second and touches the browser only when the state changes.
    """

    def __init__(self) -> None:
        self.state: str | None = None
        # No icon: its ligature would become part of the chip's text for tests and readers.
        self.chip = ui.chip(color="orange", text_color="white")
        self.chip.props("dense square data-testid=broker-state")
        self.show(broker_state())
        ui.timer(BROKER_POLL_SECONDS, lambda: self.show(broker_state()))

    def show(self, state: str | None) -> None:
        if state == self.state:
            return
        self.state = state
        notice = views.broker_notice(state)
        self.chip.text = notice or ""
        self.chip.props["data-state"] = state or ""
        self.chip.visible = notice is not None


def follow(
    collection: Collection,
    on_change: Callable[[list[Change]], Awaitable[None]],
    *,
    settle: float = SETTLE_SECONDS,
) -> None:
    """Feed this tab every change of `collection` until the tab is gone.

    One hub subscription per tab (per NiceGUI client), closed when NiceGUI deletes the
    client: after its reconnect timeout runs out, or when a tab that never connected is
    pruned. Handlers render from the collection's current state, so waiting `settle`
    seconds first folds a burst (an editor's temp file, then its rename) into one render;
    the changes that arrived meanwhile come as the next batch and render to no difference.
    `on_change([])` means "catch up from the collection": after an overflow, the changes
    in between are lost and the page must rebuild from current state.
    """
    client = ui.context.client
    current: list[Subscription] = [collection.subscribe()]

    async def pump() -> None:
        while not client.is_deleted:
            batch = await current[0].next_batch()
            if not batch:
                if current[0].state is not SubscriptionState.OVERFLOWED or client.is_deleted:
                    return  # closed: the tab is gone or the server is stopping
                current[0] = collection.subscribe()
            try:
                await on_change(batch)
            except Exception:
                log.exception("[PAGES] a page failed to apply a change")
            # Render at once, then at most once per `settle`: the rest of a burst gathers
            # meanwhile and comes as the next batch, so a lone change waits for nothing.
            await asyncio.sleep(settle)

    def unsubscribe() -> None:
        current[0].close()

    client.on_delete(unsubscribe)
    background_tasks.create(pump(), name=f"livewatch {collection.name} for {client.id}")
