"""Realistic Claude Code `--output-format stream-json` lines, and whole agent runs made of them.

The line builders return dicts with the CLI's shapes (see docs: research/wire_formats.md §1):
one `assistant` line per content block, all lines of a message sharing `message.id` and
repeating its `usage` (only the last line carries the final `output_tokens`), tool results as
`user` lines, and a closing `result` line. `Conversation` strings them into one agent's run.
"""

from __future__ import annotations

import json
import random
import uuid as uuid_
from collections import deque
from dataclasses import dataclass
from typing import Any

from livewatch.demo.playbooks import script
from livewatch.demo.tools import Call, Task, Turn

DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
CLAUDE_CODE_VERSION = "2.0.37"
TOOLS: tuple[str, ...] = (
    "Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "NotebookEdit", "WebFetch",
    "TodoWrite", "WebSearch", "BashOutput", "KillShell", "SlashCommand",
)  # fmt: skip
# USD per million tokens: input, output, cache write (5 min), cache read.
PRICES: dict[str, tuple[float, float, float, float]] = {
    "opus": (15.0, 75.0, 18.75, 1.5),
    "sonnet": (3.0, 15.0, 3.75, 0.3),
    "haiku": (1.0, 5.0, 1.25, 0.1),
}
Line = dict[str, Any]
_Cost = tuple[dict[str, Any], int, int]  # a message's usage, API time and tool time (ms)


def dumps(line: Line) -> str:
    """One line as the CLI prints it: compact, UTF-8 kept as is."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


USAGE_KEYS = (
    "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"
)  # fmt: skip


def usage(
    input_tokens: int, output_tokens: int, cache_creation: int = 0, cache_read: int = 0
) -> dict[str, Any]:
    """An Anthropic API usage object."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def cost_of(model: str, tokens: dict[str, Any]) -> float:
    """What a usage object costs at list prices (Sonnet's when the model is unknown)."""
    family = next((name for name in PRICES if name in model), "sonnet")
    per_in, per_out, per_write, per_read = PRICES[family]
    return (
        tokens["input_tokens"] * per_in
        + tokens["output_tokens"] * per_out
        + tokens["cache_creation_input_tokens"] * per_write
        + tokens["cache_read_input_tokens"] * per_read
    ) / 1e6


def init(
    session_id: str,
    model: str = DEFAULT_MODEL,
    cwd: str = "/srv/app",
    tools: list[str] | tuple[str, ...] = TOOLS,
    *,
    uuid: str | None = None,
) -> Line:
    """The `system`/`init` line that opens a run."""
    return {
        "type": "system",
        "subtype": "init",
        "cwd": cwd,
        "session_id": session_id,
        "tools": list(tools),
        "mcp_servers": [],
        "model": model,
        "permissionMode": "bypassPermissions",
        "slash_commands": ["compact", "context", "cost", "init", "review"],
        "apiKeySource": "none",
        "claude_code_version": CLAUDE_CODE_VERSION,
        "output_style": "default",
        "agents": ["general-purpose"],
        "skills": [],
        "plugins": [],
        "uuid": uuid or str(uuid_.uuid4()),
    }


def _assistant(
    msg_id: str, block: dict[str, Any], tokens: dict[str, Any], model: str, session: str, uid: str
) -> Line:
    return {
        "type": "assistant",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": dict(tokens),
        },
        "parent_tool_use_id": None,
        "session_id": session,
        "uuid": uid,
    }


def assistant_text(
    msg_id: str,
    text: str,
    usage: dict[str, Any],
    *,
    model: str = DEFAULT_MODEL,
    session_id: str = "",
    uuid: str | None = None,
) -> Line:
    """An `assistant` line holding one text block."""
    block = {"type": "text", "text": text}
    return _assistant(msg_id, block, usage, model, session_id, uuid or str(uuid_.uuid4()))


def tool_use(
    msg_id: str,
    tool_id: str,
    name: str,
    input: dict[str, Any],
    usage: dict[str, Any],
    *,
    model: str = DEFAULT_MODEL,
    session_id: str = "",
    uuid: str | None = None,
) -> Line:
    """An `assistant` line holding one tool_use block."""
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": input}
    return _assistant(msg_id, block, usage, model, session_id, uuid or str(uuid_.uuid4()))


def tool_result(
    tool_id: str,
    content: str | list[dict[str, Any]],
    is_error: bool = False,
    *,
    session_id: str = "",
    uuid: str | None = None,
    tool_use_result: Any = None,
) -> Line:
    """A `user` line carrying one tool's output back to the model."""
    block = {"tool_use_id": tool_id, "type": "tool_result", "content": content}
    line: Line = {
        "type": "user",
        "message": {"role": "user", "content": [{**block, "is_error": is_error}]},
        "parent_tool_use_id": None,
        "session_id": session_id,
        "uuid": uuid or str(uuid_.uuid4()),
    }
    if tool_use_result is not None:
        line["tool_use_result"] = tool_use_result
    return line


def result(
    *,
    session_id: str,
    num_turns: int,
    total_cost_usd: float,
    duration_ms: int,
    result: str | None = None,
    is_error: bool = False,
    subtype: str | None = None,
    duration_api_ms: int | None = None,
    tokens: dict[str, Any] | None = None,
    model: str = DEFAULT_MODEL,
    uuid: str | None = None,
) -> Line:
    """The closing `result` line: the run's outcome, turns, time, the run's tokens and cost."""
    tokens = tokens or usage(0, 0)
    line: Line = {
        "type": "result",
        "subtype": subtype or ("error_during_execution" if is_error else "success"),
        "is_error": is_error,
        "duration_ms": duration_ms,
        "duration_api_ms": duration_api_ms if duration_api_ms is not None else duration_ms,
        "num_turns": num_turns,
    }
    if result is not None:
        line["result"] = result
    if not is_error:
        line["stop_reason"] = "end_turn"
    line |= {
        "session_id": session_id,
        "total_cost_usd": total_cost_usd,
        "usage": {**tokens, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0}},
        "modelUsage": {
            model: {
                "inputTokens": tokens["input_tokens"],
                "outputTokens": tokens["output_tokens"],
                "cacheReadInputTokens": tokens["cache_read_input_tokens"],
                "cacheCreationInputTokens": tokens["cache_creation_input_tokens"],
                "webSearchRequests": 0,
                "costUSD": total_cost_usd,
                "contextWindow": 200000,
            }
        },
        "permission_denials": [],
        "uuid": uuid or str(uuid_.uuid4()),
    }
    return line


# --- a whole run ----------------------------------------------------------------------------

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"


def _count_of(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)  # about four characters a token


@dataclass
class _Queued:
    line: Line
    turn: int  # which message it belongs to; -1 for the init line
    starts_turn: bool = False


class Conversation:
    """One agent's run as stream-json lines: handed out a few at a time, or all at once.

    Deterministic for a given `seed`. `take()` hands out the body (init, then each message's
    block lines and tool results); `finish()` closes the run whenever it is called, with the
    closing text and a `result` line that counts only what was handed out.
    """

    def __init__(
        self,
        agent: str,
        *,
        task: Task | None = None,
        seed: int | str = 0,
        model: str = DEFAULT_MODEL,
        session_id: str | None = None,
        turns: int | None = None,
        min_turns: int = 0,
        fail: bool = False,
        hazards: bool = False,
        cost_usd: float | None = None,
        duration_ms: int | None = None,
        result_text: str | None = None,
        with_init: bool = True,
    ) -> None:
        self.agent = agent
        self.task = task or Task()
        self.model = model
        self.seed = f"{seed}:{agent}"
        self.rng = random.Random(self.seed)
        drawn = self._uuid()  # drawn even when unused, so a resumed run stays in step
        self.session_id = session_id or drawn
        self.fail = fail
        self.overrides = (cost_usd, duration_ms, result_text)
        run = script(
            agent, self.task, self.rng, turns=turns, min_turns=min_turns, fail=fail, hazards=hazards
        )
        *body, closing = run.turns
        self.closing_text = result_text or closing.text or ""
        self.failure_text = run.failure
        self.closing_at = run.closing_at
        self.finished = False
        # What has been handed out so far: the result line sums these.
        self.turns = 0
        self.tokens = usage(0, 0)
        self.cost = 0.0
        self.api_ms = 0
        self.tool_ms = 0
        self._context = self.rng.randint(16_000, 22_000)  # system prompt + tools, cached
        self._fresh = self.rng.randint(4_000, 9_000)  # the prompt: not cached yet
        self._queue: deque[_Queued] = deque()
        self._costs: dict[int, _Cost] = {}  # per message not handed out yet
        line = init(self.session_id, model, self.task.worktree, uuid=self._uuid())
        if with_init:
            self._queue.append(_Queued(line, -1))
        for number, turn in enumerate(body):
            queued, self._costs[number] = self._message(number, turn, self.rng)
            self._queue.extend(queued)

    @classmethod
    def resuming(cls, agent: str, existing: list[Line], **options: Any) -> Conversation:
        """Carry on a run already on disk: same session, its turns and tokens counted."""
        first = existing[0] if existing else {}
        seen: dict[str, dict[str, Any]] = {}
        for line in existing:
            message = line.get("message") if line.get("type") == "assistant" else None
            if isinstance(message, dict) and isinstance(message.get("usage"), dict):
                seen[str(message.get("id"))] = message["usage"]  # the last line's usage wins
        options.setdefault("session_id", first.get("session_id"))
        options.setdefault("model", first.get("model") or DEFAULT_MODEL)
        options.setdefault("min_turns", len(seen) + 4)  # something left to say
        talk = cls(agent, with_init=not existing, **options)
        for tokens in seen.values():
            talk._count((tokens, 0, 0))
        talk.turns = len(seen)
        # Same seed, same script: skip the messages already on disk and go on from there.
        while talk.turns and talk._queue and talk._queue[0].turn < talk.turns:
            talk._costs.pop(talk._queue.popleft().turn, None)
        talk.finished = bool(existing) and existing[-1].get("type") == "result"
        return talk

    # --- handing lines out ----------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Everything but the closing text and result has been handed out."""
        return not self._queue

    def take(self, count: int = 1) -> list[Line]:
        """The next `count` lines of the body (fewer at its end)."""
        lines: list[Line] = []
        while self._queue and len(lines) < count and not self.finished:
            lines.append(self._pop())
        return lines

    def partial(self, turns: int) -> list[Line]:
        """The body up to and including message `turns` (1-based) and its tool results."""
        lines = []
        while self._queue and self._queue[0].turn < turns:
            lines.append(self._pop())
        return lines

    def finish(self, *, fail: bool | None = None) -> list[Line]:
        """Close the run now: the current message's results, the wrap-up, closing text, result."""
        if self.finished:
            return []
        self.finished = True
        failed = self.fail if fail is None else fail
        lines = []
        current = self._queue[0].turn if self._queue and not self._queue[0].starts_turn else None
        while self._queue and (self._queue[0].turn == current or self._queue[0].turn < 0):
            lines.append(self._pop())
        # Cut short: skip to the wrap-up (the plan gets written, the tests run), unless failing.
        while self._queue and (failed or self._queue[0].turn < self.closing_at):
            self._costs.pop(self._queue.popleft().turn, None)
        lines += [self._pop() for _ in range(len(self._queue))]
        text = self.failure_text if failed and not self.fail else self.closing_text
        final = random.Random(f"{self.seed}:closing")
        queued, cost = self._message(self.turns, Turn(text), final)
        lines += [q.line for q in queued]
        self._count(cost)
        self.turns += 1
        cost_usd, duration_ms, _ = self.overrides
        wall = self.api_ms + self.tool_ms
        end = result(
            session_id=self.session_id,
            num_turns=self.turns,
            total_cost_usd=cost_usd if cost_usd is not None else round(self.cost, 6),
            duration_ms=duration_ms if duration_ms is not None else wall,
            duration_api_ms=min(self.api_ms, duration_ms or wall),
            result=text,
            is_error=failed,
            tokens=self.tokens,
            model=self.model,
            uuid=str(uuid_.UUID(int=final.getrandbits(128), version=4)),
        )
        return [*lines, end]

    def lines(self) -> list[Line]:
        """The whole run, init to result."""
        return [*self.take(len(self._queue)), *self.finish()]

    # --- building messages ----------------------------------------------------------------

    def _pop(self) -> Line:
        queued = self._queue.popleft()
        if queued.starts_turn:
            self._count(self._costs.pop(queued.turn))
            self.turns += 1
        return queued.line

    def _count(self, cost: _Cost) -> None:
        tokens, api_ms, tool_ms = cost
        # Usage read back from disk may lack fields or hold junk: count what is a number.
        clean = usage(*(_count_of(tokens.get(key)) for key in USAGE_KEYS))
        for key in USAGE_KEYS:
            self.tokens[key] += clean[key]
        self.cost += cost_of(self.model, clean)
        self.api_ms += api_ms
        self.tool_ms += tool_ms

    def _uuid(self, rng: random.Random | None = None) -> str:
        return str(uuid_.UUID(int=(rng or self.rng).getrandbits(128), version=4))

    def _id(self, prefix: str, rng: random.Random) -> str:
        return prefix + "".join(rng.choice(_ALPHABET) for _ in range(22))

    def _message(self, number: int, turn: Turn, rng: random.Random) -> tuple[list[_Queued], _Cost]:
        """One assistant message: a line per block, then a user line per tool result."""
        msg_id = self._id("msg_01", rng)
        blocks = [{"type": "tool_use", "call": call} for call in turn.calls]
        if turn.text or not blocks:
            blocks.insert(0, {"type": "text", "text": turn.text or ""})
        written = (turn.text or "") + "".join(json.dumps(c.input) for c in turn.calls)
        final = usage(
            rng.randint(3, 12),
            _tokens(written) + rng.randint(8, 90),
            self._fresh,
            self._context,
        )
        self._context += self._fresh
        self._fresh = final["output_tokens"] + sum(_tokens(c.output) for c in turn.calls) + 12
        api_ms = rng.randint(1_200, 4_000) + 18 * final["output_tokens"]
        tool_ms = sum(c.ms + rng.randint(5, 60) for c in turn.calls)
        out: list[_Queued] = []
        for index, block in enumerate(blocks):
            last = index == len(blocks) - 1
            # Earlier lines of a message carry a provisional output count, as the CLI's do.
            tokens = final if last else {**final, "output_tokens": 1}
            uid = self._uuid(rng)
            if block["type"] == "text":
                line = assistant_text(
                    msg_id,
                    block["text"],
                    tokens,
                    model=self.model,
                    session_id=self.session_id,
                    uuid=uid,
                )
            else:
                call: Call = block["call"]
                block["id"] = self._id("toolu_01", rng)
                line = tool_use(
                    msg_id,
                    block["id"],
                    call.name,
                    call.input,
                    tokens,
                    model=self.model,
                    session_id=self.session_id,
                    uuid=uid,
                )
            out.append(_Queued(line, number, starts_turn=index == 0))
        tool_ids = [b["id"] for b in blocks if b["type"] == "tool_use"]
        for tool_id, call in zip(tool_ids, turn.calls, strict=True):
            line = tool_result(
                tool_id,
                call.output,
                call.is_error,
                session_id=self.session_id,
                uuid=self._uuid(rng),
                tool_use_result=call.extra,
            )
            out.append(_Queued(line, number))
        return out, (final, api_ms, tool_ms)
