"""Agent events in the hooks dashboard's `HookEvent` shape, for its Vue client (`/stream`,
`/events/recent`) and for the answer to `POST /events`.

```
{"id": <seq>, "source_app", "session_id", "hook_event_type", "payload": {...},
 "timestamp": <epoch ms>, "model_name", "summary", "tool_name", "adw_id"}
```

Keys whose value is unknown are left out, as that server's JSON leaves out its NULL columns
(the client reads e.g. `model_name.split('-')` only when it is there). `adw_id` is ours: the
workflow a hook was linked to. `chat` is never part of it: it stays in the store, served by
`GET /api/events/{seq}`.

- **Hook events**: `payload` is the hook's stdin object as posted, secrets masked by key and in
  free text. `summary` is the sender's own (`--summarize`) when it sent one, else ours (the
  tool input's main argument, the error, the prompt or the message).
- **Transcript events** (from `raw_output.jsonl`): `source_app` = adw_id, `session_id` = the
  agent, `hook_event_type` the nearest hook: `PreToolUse` for a tool call, `PostToolUse` (or
  `PostToolUseFailure` when it failed) for its result, `Stop` for the final `result` line and
  `Notification` for messages, `init` and errors. Their `payload` is a small dict built from
  the event's own fields, not the raw line (which can be a MB, and is served by
  `/api/events/{seq}`): `{"kind", "tool_name", "summary", "is_error", "tokens_in",
  "tokens_out", "cost_usd"}`, unknown ones left out. The pulse chart reads `payload.tool_name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livewatch.security.text_masking import mask_deep, mask_text

# Ids that look like secrets by name but are what a hook event is grouped by.
HOOK_TYPE_OF_KIND = {
    "tool_use": "PreToolUse",
    "result": "Stop",
    "message": "Notification",
    "init": "Notification",
    "error": "Notification",
}


def hook_event_type(event: Mapping[str, Any]) -> str:
    """A hook's own type, or the nearest one for a transcript event."""
    own = event.get("hook_event_type")
    if own:
        return str(own)
    kind = event.get("kind")
    if kind == "tool_result":
        return "PostToolUseFailure" if event.get("is_error") else "PostToolUse"
    return HOOK_TYPE_OF_KIND.get(str(kind), "Notification")


def masked(value: Any) -> Any:
    """A copy with secret-looking keys masked, and secrets masked inside every string."""
    return mask_deep(value)


def file_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """A transcript event's stand-in payload: its own (already masked) fields."""
    payload = {
        "kind": event.get("kind"),
        "tool_name": event.get("tool"),
        "summary": event.get("summary") or None,
        "is_error": True if event.get("is_error") else None,
        "tokens_in": event.get("tokens_in"),
        "tokens_out": event.get("tokens_out"),
        "cost_usd": event.get("cost_usd"),
    }
    return {k: v for k, v in payload.items() if v is not None}


def hook_ids(event: Mapping[str, Any]) -> tuple[str, str, str]:
    """(source_app, session_id, hook_event_type): what their client filters and groups by."""
    if event.get("source") == "hook":
        app = event.get("app") or event.get("adw_id")
    else:
        app = event.get("adw_id") or event.get("app")
    return str(app or "unknown"), str(event.get("agent") or "unknown"), hook_event_type(event)


def hook_event(
    event: Mapping[str, Any],
    hook_payload: Any = None,
    posted_summary: Any = None,
) -> dict[str, Any]:
    """`event` (public fields) as a HookEvent.

    For a hook, `hook_payload` is the body's `payload` (unmasked: it is masked here) and
    `posted_summary` the body's `summary`.
    """
    is_hook = event.get("source") == "hook"
    if is_hook:
        payload = masked(hook_payload) if isinstance(hook_payload, dict) else {}
        summary = (
            mask_text(posted_summary)
            if isinstance(posted_summary, str) and posted_summary
            else event.get("summary")
        )
    else:
        payload = file_payload(event)
        summary = event.get("summary")
    source_app, session_id, hook_type = hook_ids(event)
    shaped = {
        "id": event.get("seq"),
        "source_app": source_app,
        "session_id": session_id,
        "hook_event_type": hook_type,
        "payload": payload,
        "timestamp": event.get("ts"),
        "model_name": event.get("model") or None,
        "summary": summary or None,
        "tool_name": event.get("tool") or None,
        "adw_id": event.get("adw_id") or None,
    }
    return {k: v for k, v in shaped.items() if v is not None}
