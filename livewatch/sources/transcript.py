"""Turn Claude Code `--output-format stream-json` lines into agent events.

One line in, zero or more events out (`livewatch.hub.events`): `system/init` → `init`, each
assistant content block → `message` or `tool_use`, each tool result → `tool_result`, the final
`result` line → `result`. Other system subtypes and unknown line types (hooks, status, stream
chunks, rate limits) are ignored: newer CLIs add them freely. A line that is not JSON, or JSON of
a shape we can't read, becomes one `error` event; parsing never raises.

Thinking blocks become `message` events summarised "(thinking) <first line>": they are the only
sign of life during a long think. Summaries are secret-masked here; payloads where they are served.

The parser is pure apart from two bounded memories: tool_use id → tool name (so a result can name
its tool) and message id → tokens already counted (Claude Code repeats a message's usage on each
of its lines; see `_count_tokens`).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from typing import Any

from livewatch.hub import protocol
from livewatch.hub.events import Event, Kind, one_line
from livewatch.hub.events import new_event as _new_event
from livewatch.security.text_masking import mask_text

__all__ = ["TranscriptParser", "tool_summary"]

# Message and tool ids remembered. A message's lines come together and a tool's result
# follows its call within a turn (parallel calls: a few dozen at most), so a short memory is
# enough; 100 agents with 1,000 ids each held ~30 MB.
MEMORY = 128
# A summary shows 200 characters, but masking can shorten what comes first: mask a generous
# window of the first line before cutting it (never a whole 1 MiB tool output twice).
MASK_WINDOW = 8192

# The input key that says what a built-in tool is doing, by tool name.
_MAIN_ARGUMENT: dict[str, str] = {
    "Read": "file_path",
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
    "NotebookRead": "notebook_path",
    "Bash": "command",
    "WebFetch": "url",
    "WebSearch": "query",
    "Task": "description",
    "Agent": "description",
    "LS": "path",
}
# Unknown and MCP tools: the first of these that holds a string.
_LIKELY_ARGUMENTS = ("command", "file_path", "pattern", "url", "query", "path", "description")


def tool_summary(name: str | None, tool_input: Any) -> str:
    """What a tool call does, in a few words: its main argument (unmasked, uncut)."""
    if not isinstance(tool_input, dict):
        return _compact_json(tool_input)
    if name in ("Grep", "Glob"):
        pattern, path = tool_input.get("pattern"), tool_input.get("path")
        if isinstance(pattern, str):
            return f"{pattern} in {path}" if isinstance(path, str) and path else pattern
    if name == "TodoWrite" and isinstance(tool_input.get("todos"), list):
        return _todos_summary(tool_input["todos"])
    main = _MAIN_ARGUMENT.get(name or "")
    if main is not None and isinstance(tool_input.get(main), str):
        return tool_input[main]
    for key in _LIKELY_ARGUMENTS:
        if isinstance(tool_input.get(key), str):
            return tool_input[key]
    return _compact_json(tool_input)


class TranscriptParser:
    """Parse the stream-json lines of one agent run, in order, into events."""

    def __init__(self, adw_id: str | None, agent: str) -> None:
        self.adw_id = adw_id
        self.agent = agent
        self._lines = 0
        self._tools: OrderedDict[str, str] = OrderedDict()  # tool_use id -> tool name
        self._counted: OrderedDict[str, tuple[int, int]] = OrderedDict()  # message id -> tokens

    def parse(self, line: bytes | str, *, ts: int, origin: str | None) -> list[Event]:
        """The events of one line. Several events from one line get origins `<origin>#i`."""
        self._lines += 1
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        if not text.strip():
            return []
        try:
            events = self._events(text, ts)
        except Exception as exc:  # last line of defence: one odd line must not stop the stream
            events = [self._error(ts, f"line {self._lines} could not be read: {exc!r}")]
        if events:
            # The payload is kept as written (like the file it came from) and masked where it
            # is served (`GET /api/events/{seq}`): masking each line here cost a tenth of a core.
            payload = text.rstrip("\r\n")
            for index, event in enumerate(events):
                event["payload"] = payload
                event["origin"] = origin if index == 0 or origin is None else f"{origin}#{index}"
        return events

    # --- one line ---------------------------------------------------------------------------

    def _events(self, text: str, ts: int) -> list[Event]:
        try:
            data = protocol.decode(text)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            return [self._error(ts, f"line {self._lines} is not JSON ({reason}): {text}")]
        if not isinstance(data, dict):
            return [self._error(ts, f"line {self._lines} is not a JSON object: {text}")]
        kind = data.get("type")
        if kind == "system":
            return self._system(data, ts)
        if kind == "assistant":
            return self._assistant(data, ts)
        if kind == "user":
            return self._user(data, ts)
        if kind == "result":
            return [self._result(data, ts)]
        if not isinstance(kind, str):
            return [self._error(ts, f"line {self._lines} has no type: {text}")]
        return []  # stream_event, rate_limit_event, ...: not ours to show

    def _system(self, data: dict[str, Any], ts: int) -> list[Event]:
        if data.get("subtype") != "init":
            return []  # hook_started, status, compact_boundary, ...
        model = _str(data.get("model"))
        tools = data.get("tools")
        parts = [f"model {model or '?'}"]
        if isinstance(tools, list):
            parts.append(_count(len(tools), "tool"))
        return [self._event("init", ts, " · ".join(parts), model=model)]

    def _assistant(self, data: dict[str, Any], ts: int) -> list[Event]:
        message = data.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(content, list):
            return [self._error(ts, f"line {self._lines}: assistant line without content list")]
        model = _str(message.get("model"))
        events: list[Event] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            block_type = block.get("type")
            if block_type == "text":
                events.append(self._event("message", ts, _text(block.get("text")), model=model))
            elif block_type == "thinking":
                thought = _first_line(_text(block.get("thinking")))
                summary = f"(thinking) {thought}" if thought else "(thinking)"
                events.append(self._event("message", ts, summary, model=model))
            elif block_type in ("tool_use", "server_tool_use"):
                name = _str(block.get("name"))
                self._remember_tool(block.get("id"), name)
                summary = tool_summary(name, block.get("input"))
                events.append(self._event("tool_use", ts, summary, tool=name, model=model))
            # redacted_thinking, images, server tool results: nothing worth a line
        if events:
            events[0]["tokens_in"], events[0]["tokens_out"] = self._count_tokens(message)
        return events

    def _user(self, data: dict[str, Any], ts: int) -> list[Event]:
        message = data.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):  # a prompt
            return [self._event("message", ts, f"(user) {_first_line(content)}")]
        if not isinstance(content, list):
            return [self._error(ts, f"line {self._lines}: user line without content")]
        events: list[Event] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_result":
                events.append(self._tool_result(block, ts))
            elif block.get("type") == "text":
                events.append(self._event("message", ts, f"(user) {_text(block.get('text'))}"))
        return events

    def _tool_result(self, block: dict[str, Any], ts: int) -> Event:
        tool_id = block.get("tool_use_id")
        tool = self._tools.get(tool_id) if isinstance(tool_id, str) else None
        is_error = block.get("is_error") is True
        output = _first_line(_result_text(block.get("content")))
        status = "error" if is_error else "ok"
        summary = f"{status}: {output}" if output else status
        return self._event("tool_result", ts, summary, tool=tool, is_error=is_error)

    def _result(self, data: dict[str, Any], ts: int) -> Event:
        subtype = _str(data.get("subtype")) or "result"
        is_error = data.get("is_error")
        if not isinstance(is_error, bool):
            is_error = subtype != "success"
        turns, duration_ms = _number(data.get("num_turns")), _number(data.get("duration_ms"))
        cost = _number(data.get("total_cost_usd"))
        parts = [subtype]
        if turns is not None:
            parts.append(_count(int(turns), "turn"))
        if duration_ms is not None:
            parts.append(f"{duration_ms / 1000:.1f} s")
        if cost is not None:
            parts.append(f"${cost:.4f}")
        # No tokens here: the result's usage is the run's total, already counted per message.
        return self._event("result", ts, " · ".join(parts), is_error=is_error, cost_usd=cost)

    # --- memories ---------------------------------------------------------------------------

    def _remember_tool(self, tool_id: Any, name: str | None) -> None:
        if isinstance(tool_id, str) and name is not None:
            _remember(self._tools, tool_id, name)

    def _count_tokens(self, message: dict[str, Any]) -> tuple[int | None, int | None]:
        """Tokens this line adds: its usage minus what earlier lines of its message counted.

        Every line of one message repeats the message's usage, and `output_tokens` only reaches
        its final value on the last line; counting the growth per message id, never below what
        was seen, makes the events of a transcript sum to the true totals.
        """
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return None, None
        tokens_in, tokens_out = usage_tokens(usage)
        message_id = message.get("id")
        if not isinstance(message_id, str):
            return tokens_in, tokens_out  # nothing to tie it to: count the line as it is
        seen_in, seen_out = self._counted.get(message_id, (0, 0))
        _remember(self._counted, message_id, (max(seen_in, tokens_in), max(seen_out, tokens_out)))
        return max(0, tokens_in - seen_in), max(0, tokens_out - seen_out)

    # --- events -----------------------------------------------------------------------------

    def _event(
        self,
        kind: Kind,
        ts: int,
        summary: str,
        *,
        tool: str | None = None,
        is_error: bool = False,
        model: str | None = None,
        cost_usd: float | None = None,
    ) -> Event:
        return _new_event(
            ts=ts,
            source="file",
            adw_id=self.adw_id,
            agent=self.agent,
            kind=kind,
            tool=tool,
            summary=_summary(summary),
            is_error=is_error,
            model=model,
            cost_usd=cost_usd,
        )

    def _error(self, ts: int, summary: str) -> Event:
        return self._event("error", ts, summary, is_error=True)


# --- helpers ----------------------------------------------------------------------------------


def _remember(memory: OrderedDict[str, Any], key: str, value: Any) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > MEMORY:
        memory.popitem(last=False)


def _summary(text: str) -> str:
    """One masked line of at most SUMMARY_MAX characters, safe to encode."""
    # Mask before cutting, so a cut can't leave half a secret that no longer looks like one.
    line = mask_text(_first_line(text)[:MASK_WINDOW])
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes can't be stored or sent
        line = line.encode("utf-8", "replace").decode("utf-8")
    return one_line(line)


def _first_line(text: str) -> str:
    """The first non-blank line, without splitting a 1 MiB tool output into a list."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end].strip()
        if line:
            return line
        start = end + 1
    return ""


def usage_tokens(usage: dict[str, Any]) -> tuple[int, int]:
    """(tokens in, tokens out) of a stream-json `usage`: input counts cache reads and writes."""
    tokens_in = sum(
        _tokens(usage.get(key))
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return tokens_in, _tokens(usage.get("output_tokens"))


def _result_text(content: Any) -> str:
    """A tool result's output: a string, a list of text (and image) blocks, or nothing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(_text(block.get("text")))
            elif isinstance(block, dict) and block.get("type") == "image":
                parts.append("(image)")
        return "\n".join(parts)
    return ""


def _todos_summary(todos: list[Any]) -> str:
    summary = _count(len(todos), "todo")
    for todo in todos:
        if isinstance(todo, dict) and todo.get("status") == "in_progress":
            doing = _str(todo.get("activeForm")) or _str(todo.get("content"))
            if doing:
                return f"{summary} · {doing}"
    return summary


def _compact_json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _tokens(value: Any) -> int:
    """A usage counter; anything that isn't a non-negative int counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
