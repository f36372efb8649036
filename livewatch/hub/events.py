"""Agent events: one model for what transcripts on disk and Claude Code hooks report.

An event is a plain dict (it travels to SQLite, Redis and JSON as it is). The hub numbers it
(`seq`); sources fill in the rest. The full raw line or hook body rides beside it as
`payload` (text) until the store takes it: it is never broadcast.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Kind = Literal["init", "message", "tool_use", "tool_result", "result", "error", "hook"]
KINDS: tuple[str, ...] = ("init", "message", "tool_use", "tool_result", "result", "error", "hook")
Source = Literal["file", "hook"]
SUMMARY_MAX = 200

# What a broadcast event carries: every field but the payload.
EVENT_FIELDS: tuple[str, ...] = (
    "seq",
    "ts",
    "source",
    "adw_id",
    "agent",
    "app",
    "kind",
    "tool",
    "summary",
    "is_error",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "hook_event_type",
    "model",
)


class Event(TypedDict, total=False):
    seq: int  # set by the hub: only grows, one per event
    ts: int  # epoch ms
    source: Source
    adw_id: str | None
    agent: str  # the agent folder name, or a hook's session_id
    app: str | None  # a hook's source_app
    kind: Kind
    tool: str | None
    summary: str  # one line, at most SUMMARY_MAX chars, secrets masked
    is_error: bool
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    hook_event_type: str | None
    model: str | None
    # Never broadcast: the raw line or body (masked when served), and where it came from.
    payload: str
    origin: str | None  # "file:<adw_id>/<agent>@<byte offset>": the same line is stored once


def new_event(**fields: Any) -> Event:
    """An event with every field present (None or False where unknown)."""
    event: dict[str, Any] = {name: None for name in EVENT_FIELDS if name != "seq"}
    event.update(is_error=False, summary="", payload="", origin=None)
    event.update(fields)
    return event  # type: ignore[return-value]


def public(event: Event) -> dict[str, Any]:
    """The broadcast form: every model field, no payload."""
    return {name: event.get(name) for name in EVENT_FIELDS}


def one_line(text: object, limit: int = SUMMARY_MAX) -> str:
    """The first non-blank line of `text`, cut to `limit` characters."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
