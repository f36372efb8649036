"""Every knob in one place: defaults here, then `LIVEWATCH_*` env vars, then CLI flags."""

from __future__ import annotations

import hashlib
import os
import re
import socket
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from livewatch.security.access import is_loopback_host


class Settings(BaseSettings):
    """The one settings object; each field becomes a `--flag` of `livewatch serve`."""

    model_config = SettingsConfigDict(
        env_prefix="LIVEWATCH_", extra="ignore", populate_by_name=True
    )

    agents_dir: Path = Field(Path("agents"), description="the folder of agents/<adw_id>/ runs")
    host: str = Field("127.0.0.1", description="address to bind; loopback unless told otherwise")
    # The seed's .ports.env sets BACKEND_PORT, so honour it too.
    port: int = Field(
        8000,
        description="port to serve on",
        validation_alias=AliasChoices("LIVEWATCH_PORT", "BACKEND_PORT"),
    )
    app: str | None = Field(
        None, description="show the routes of this FastAPI app (module:attribute) instead"
    )
    github_repo: str | None = Field(
        None,
        description="owner/name for issue links",
        validation_alias=AliasChoices("LIVEWATCH_GITHUB_REPO", "GITHUB_REPO"),
    )
    pages: Path | None = Field(None, description="a folder of extra NiceGUI page modules to load")
    # Agents append to their transcripts without pause: in a stream, their changes gather this
    # long so each transcript is read once for many lines. Other changes (a state file) go
    # after one quiet step and take the gathered ones with them. At 2,000 lines/s, 15 ms
    # gave append→client p50 16-18 ms, 20 ms gave 31-34 ms, for ~2 % of a core more.
    debounce_ms: int = Field(
        15,
        ge=1,
        description="longest transcript changes gather in a stream (other changes: one step)",
    )
    step_ms: int = Field(
        8, ge=1, description="how often to look for file events (lower: faster, more idle CPU)"
    )
    reconcile_s: float = Field(
        30.0, gt=0, description="seconds between reconciliation checks (full rescans are rarer)"
    )
    # A workflow that has not finished is "running" while it writes, "stalled" once it has
    # written nothing for this long (the old --running-window-s, whose "idle" it replaces).
    stall_after_s: float = Field(
        600.0,
        gt=0,
        description="an unfinished workflow silent this many seconds is 'stalled'",
        validation_alias=AliasChoices("LIVEWATCH_STALL_AFTER_S", "LIVEWATCH_RUNNING_WINDOW_S"),
    )
    heartbeat_s: float = Field(
        15.0, gt=0, description="seconds between pings to protocol-2 clients; 2 missed drop them"
    )
    history: int = Field(1000, ge=1, description="changes kept for clients that resume")
    queue_size: int = Field(
        256, ge=1, description="changes a protocol-2 client may fall behind before it is dropped"
    )
    send_timeout_s: float = Field(
        60.0,
        gt=0,
        description="seconds a seed-format client may leave a list unread before it is dropped",
    )
    log_level: str = Field("info", description="debug, info, warning or error")
    token: str | None = Field(None, description="require this access token for pages, /api and /ws")
    allow_origin: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="extra browser origins allowed to open WebSockets (repeat, or comma-separate)",
    )
    broker: str | None = Field(
        None,
        description="redis:// URL of the shared bus: `agent` publishes to it, `serve` follows it",
    )
    host_label: str = Field(
        default_factory=lambda: _label(socket.gethostname()),
        description="this agent host's name in the merged list; unique per host",
    )
    stale_after_s: float = Field(
        30.0, gt=0, description="an agent host silent this long has its workflows marked stale"
    )
    db: str | None = Field(
        None,
        description="the event database: a file path or an SQLAlchemy URL "
        "(default: one SQLite file per agents dir under ~/.local/state/livewatch/)",
    )
    retention_days: float = Field(30.0, gt=0, description="agent events older than this are pruned")
    max_events: int = Field(
        1_000_000, ge=1000, description="at most this many agent events are kept (oldest go first)"
    )
    hook_max_body_mb: float = Field(
        16.0,
        gt=0,
        description="largest POST /events body in MB (send_event.py --add-chat sends whole "
        "transcripts); bigger ones get 413",
    )
    hook_rate: float = Field(
        500.0, gt=0, description="POST /events per second allowed per source_app; more get 429"
    )

    # Alerts (livewatch/alerts/): which transitions, and where they are posted.
    alert_webhook: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="POST each alert as JSON to this URL (repeat, or comma-separate); Slack "
        "and Discord incoming webhooks take it as it is",
    )
    alert_on: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["failed", "stalled"],
        description="the statuses that alert when a workflow enters them: any of failed, "
        "completed, stalled, error",
    )
    alert_cost_usd: float | None = Field(
        None, gt=0, description="also alert once when a run's cost crosses this many USD"
    )
    alert_give_up_s: float = Field(
        600.0, gt=0, description="seconds an undelivered alert is retried (backoff and jitter)"
    )
    alert_timeout_s: float = Field(
        5.0, gt=0, description="seconds one webhook post may take before it counts as failed"
    )
    public_url: str | None = Field(
        None, description="this dashboard's address in alert links (default http://HOST:PORT)"
    )

    @field_validator("alert_on")
    @classmethod
    def _check_alert_on(cls, value: list[str]) -> list[str]:
        events = [e.strip().lower() for item in value for e in item.split(",") if e.strip()]
        if unknown := set(events) - {"failed", "completed", "stalled", "error"}:
            raise ValueError(f"unknown alert event(s) {sorted(unknown)}")
        return events

    @field_validator("allow_origin", "alert_webhook", "alert_on", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return (
            [o.strip() for o in value.split(",") if o.strip()] if isinstance(value, str) else value
        )

    @field_validator("host_label")
    @classmethod
    def _check_label(cls, value: str) -> str:
        if not HOST_LABEL.fullmatch(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 64)")
        return value

    @property
    def database(self) -> str:
        """Where events are stored: `--db`, else a file of this agents dir's own."""
        if self.db:
            return self.db
        # One file per agents dir, so two dashboards on two dirs never mix their events, and
        # never inside the agents dir: the watcher would see every write.
        root = self.agents_dir.absolute()
        digest = hashlib.sha256(str(root).encode()).hexdigest()[:10]
        state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return str(state / "livewatch" / f"{_label(root.name)}-{digest}.db")

    @property
    def dashboard_url(self) -> str:
        """Where alert links point: `--public-url`, else the address served on."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def exposed(self) -> bool:
        """Bound beyond this machine: then a token should guard it."""
        return not is_loopback_host(self.host)


# Host labels become part of Redis keys and of namespaced ids (`<adw_id>@<host>`).
HOST_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _label(hostname: str) -> str:
    """The machine's hostname, made into a valid host label."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", hostname).lstrip("_.-")[:64] or "host"
