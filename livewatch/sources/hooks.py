"""Claude Code hook posts (disler's `send_event.py`) into agent events, and onto workflows.

Pure: a POST body in, an `Event` out (or a `HookError` naming the field at fault). The body
`send_event.py` sends is `{source_app, session_id, hook_event_type, payload, timestamp (ms),
model_name}` plus optional top-level copies (`tool_name`, `error`, `agent_id`, ...), `chat`
(the whole transcript, with `--add-chat`) and `summary` (with `--summarize`).

The event keeps the whole body, as received, as its `payload` text: the store keeps it and
`GET /api/events/{seq}` serves it (masked); it is never broadcast, so a many-MB `chat` costs
one write, not one copy per client.

`WorkflowLinker` ties a hook to a workflow: by `source_app` equal to an adw_id, else by the
hook's `payload.cwd` lying inside a workflow's `worktree_path` (from `adw_state.json`).
"""

from __future__ import annotations

import json
import math
import posixpath
import time
from collections.abc import Mapping
from typing import Any

from livewatch.hub import protocol
from livewatch.hub.collection import Collection
from livewatch.hub.events import Event, new_event, one_line
from livewatch.security.text_masking import mask_text

REQUIRED = ("source_app", "session_id", "hook_event_type")
MAX_ID = 200  # an app, session or type name longer than this is a mistake or abuse
# A sender's clock may drift, but not by years: outside this window the arrival time is used.
MAX_PAST_MS = 365 * 86_400_000
MAX_FUTURE_MS = 86_400_000
MIN_TS_MS = 1_000_000_000_000  # 2001-09-09: smaller numbers are seconds, not ms, or garbage

# The tool input's main argument, in the order disler's client picks its "detail" string.
MAIN_ARGUMENT = (
    "command",
    "file_path",
    "pattern",
    "url",
    "query",
    "notebook_path",
    "recipient",
    "subject",
    "taskId",
    "description",
    "task_id",
    "team_name",
    "skill",
    "prompt",
    "path",
)
TOOL_HOOKS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"})


class HookError(ValueError):
    """A body livewatch will not take; `field` names what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def read_body(raw: bytes | str) -> dict[str, Any]:
    """The posted JSON object, or HookError("body") when it is not one."""
    try:
        body = protocol.decode(raw)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise HookError("body", f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise HookError("body", "the body must be a JSON object")
    return body


def to_event(body: Mapping[str, Any], raw: str, *, received_ms: int | None = None) -> Event:
    """The agent event of a hook body (not yet linked to a workflow).

    `raw` is the body's text as received: it becomes the event's payload, unchanged.
    """
    ids = {name: _required(body, name) for name in REQUIRED}
    payload = body.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise HookError("payload", "payload must be a JSON object (the hook's stdin)")
    arrived = now_ms() if received_ms is None else received_ms
    tool = _text(body.get("tool_name")) or _text(payload.get("tool_name"))
    hook_type = ids["hook_event_type"]
    error = body.get("error") or payload.get("error")
    return new_event(
        ts=event_ts(body.get("timestamp"), arrived),
        source="hook",
        kind="hook",
        app=ids["source_app"],
        agent=ids["session_id"],
        hook_event_type=hook_type,
        tool=tool[:MAX_ID] if tool else None,
        model=_text(body.get("model_name")) or None,
        summary=summarize(hook_type, body, payload),
        is_error=hook_type == "PostToolUseFailure" or bool(error),
        payload=raw,
    )


def read_hook(raw: bytes | str, *, received_ms: int | None = None) -> tuple[Event, dict[str, Any]]:
    """`read_body` then `to_event`: the event and the parsed body (for its `payload`)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as error:
        raise HookError("body", f"the body is not UTF-8: {error}") from None
    body = read_body(text)
    return to_event(body, text, received_ms=received_ms), body


def _required(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise HookError(name, f"{name} is required")
    if not isinstance(value, str):
        raise HookError(name, f"{name} must be a string, not {type(value).__name__}")
    if len(value) > MAX_ID:
        raise HookError(name, f"{name} is longer than {MAX_ID} characters")
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def event_ts(timestamp: object, arrived_ms: int) -> int:
    """The sender's `timestamp` (epoch ms) when it is a sane number, else the arrival time."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return arrived_ms
    if isinstance(timestamp, float) and not math.isfinite(timestamp):
        return arrived_ms
    ts = int(timestamp)
    if ts < MIN_TS_MS or not arrived_ms - MAX_PAST_MS <= ts <= arrived_ms + MAX_FUTURE_MS:
        return arrived_ms
    return ts


def summarize(hook_type: str, body: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """One line, at most SUMMARY_MAX characters, secrets masked.

    Tool hooks: the tool input's main argument (a failure: its error). A prompt, a
    notification's message, a session's source or end reason, a subagent's type. Else the
    sender's own `summary` (`--summarize`), else nothing.
    """
    text = _pick(hook_type, body, payload) or _text(body.get("summary"))
    # Mask the whole first line before cutting it: a cut could leave half a secret unmasked.
    return one_line(mask_text(one_line(text, limit=1 << 20)))


def _pick(hook_type: str, body: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    if hook_type == "PostToolUseFailure":
        error = body.get("error") or payload.get("error")
        if error:
            return error if isinstance(error, str) else json.dumps(error)
    if hook_type in TOOL_HOOKS or "tool_input" in payload:
        return main_argument(payload.get("tool_input"))
    for key in ("prompt", "message", "last_assistant_message", "custom_instructions"):
        if text := _text(payload.get(key)):
            return text
    for key in ("agent_type", "source", "reason", "trigger", "notification_type"):
        if text := _text(payload.get(key)) or _text(body.get(key)):
            return text
    return ""


def main_argument(tool_input: object) -> str:
    """What a tool call is about: its command, file, pattern, URL, query, ..."""
    if not isinstance(tool_input, dict):
        return tool_input if isinstance(tool_input, str) else ""
    for key in MAIN_ARGUMENT:
        value = tool_input.get(key)
        if isinstance(value, str) and value.strip():
            if key == "description" and isinstance(tool_input.get("subagent_type"), str):
                return f"{tool_input['subagent_type']}: {value}"
            return value
    todos = tool_input.get("todos")
    if isinstance(todos, list):
        return f"{len(todos)} todos"
    if not tool_input:
        return ""
    # An MCP tool's free-form input: its JSON, as one line.
    return json.dumps(tool_input, ensure_ascii=False, separators=(",", ":"))[:1000]


class WorkflowLinker:
    """Which workflow a hook belongs to, from the workflows collection.

    The index (worktree path → adw_id) is rebuilt only when the collection's seq moves.
    """

    def __init__(self, workflows: Collection) -> None:
        self.workflows = workflows
        self._seq: int | None = None
        self._trees: dict[str, str] = {}

    def adw_id_for(self, source_app: str | None, cwd: object) -> str | None:
        """The adw_id `source_app` names, else the one whose worktree holds `cwd`."""
        if source_app and self.workflows.get(source_app) is not None:
            return source_app
        if not isinstance(cwd, str) or not cwd.startswith("/"):
            return None
        trees = self._index()
        if not trees:
            return None
        path = posixpath.normpath(cwd)
        # Walk up from cwd: the deepest worktree that holds it wins (nested trees).
        while True:
            if (adw_id := trees.get(path)) is not None:
                return adw_id
            parent = posixpath.dirname(path)
            if parent == path:
                return None
            path = parent

    def link(self, event: Event, body: Mapping[str, Any]) -> Event:
        """Set the event's `adw_id` when its hook belongs to a workflow."""
        payload = body.get("payload")
        cwd = payload.get("cwd") if isinstance(payload, dict) else None
        event["adw_id"] = self.adw_id_for(event.get("app"), cwd)
        return event

    def _index(self) -> dict[str, str]:
        if self._seq != self.workflows.seq:
            trees: dict[str, str] = {}
            for record in self.workflows.records():
                tree = record.get("worktree_path")
                if isinstance(tree, str) and tree.startswith("/"):
                    trees[posixpath.normpath(tree)] = str(record["adw_id"])
            self._trees, self._seq = trees, self.workflows.seq
        return self._trees
