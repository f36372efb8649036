"""Tool calls as the agents make them, and the task they work on.

Each builder returns a `Call`: the tool's input, the text that goes back to the model (with
Claude Code's wording, e.g. `Exit code 1` or `<tool_use_error>`), and the structured
`tool_use_result` that rides on the user line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TODO_OK = (
    "Todos have been modified successfully. Ensure that you continue to use the todo list to "
    "track your progress. Please proceed with the current tasks if applicable"
)
_STOP_WORDS = {"a", "an", "the", "in", "of", "to", "on", "by", "from", "when", "is", "after"}
_STOP_WORDS |= {"with", "for", "fix", "add", "show", "and", "bump", "drop"}


@dataclass(frozen=True)
class Task:
    """The issue an agent works on, and where."""

    adw_id: str = "0000demo"
    issue_number: int = 1
    title: str = "Add a health check endpoint"
    issue_class: str = "/feature"
    slug: str = ""  # the branch name's tail; derived from the title when empty
    cwd: str = ""  # the worktree; /srv/app/trees/<adw_id> when empty
    plan_file: str = ""
    branch: str = ""
    backend_port: int = 9100
    frontend_port: int = 9200
    failing_tests: tuple[str, ...] = ()

    @property
    def kebab(self) -> str:
        return self.slug or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    @property
    def module(self) -> str:
        """A Python module name for the area the issue touches (two words of the slug)."""
        words = [w for w in self.kebab.split("-") if w not in _STOP_WORDS and not w.isdigit()]
        return "_".join(words[:2]) or "feature"

    @property
    def worktree(self) -> str:
        return self.cwd or f"/srv/app/trees/{self.adw_id}"

    @property
    def plan(self) -> str:
        return self.plan_file or (
            f"specs/issue-{self.issue_number}-adw-{self.adw_id}-sdlc_planner-{self.kebab}.md"
        )

    @property
    def branch_name(self) -> str:
        kind = self.issue_class.strip("/") or "feature"
        return self.branch or f"{kind}-issue-{self.issue_number}-adw-{self.adw_id}-{self.kebab}"

    @property
    def tests(self) -> tuple[str, ...]:
        m = self.module
        return self.failing_tests or (f"test_{m}_defaults", f"test_{m}_limit", f"test_{m}_empty")

    def path(self, rel: str) -> str:
        return f"{self.worktree}/{rel}"


@dataclass(frozen=True)
class Call:
    """One tool call and what came back."""

    name: str
    input: dict[str, Any]
    output: str
    is_error: bool = False
    extra: Any = None  # the top-level `tool_use_result` of the user line
    ms: int = 0  # how long the tool ran


@dataclass(frozen=True)
class Turn:
    """One assistant message: some text, then zero or more tool calls (one line per block)."""

    text: str | None
    calls: tuple[Call, ...] = ()


Beat = list[Turn]  # one or a few turns that belong together


def numbered(text: str, start: int = 1) -> str:
    """The Read tool's `cat -n` style: right-aligned numbers and an arrow."""
    return "\n".join(f"{i:>6}→{line}" for i, line in enumerate(text.splitlines(), start))


def read(task: Task, rel: str, body: str) -> Call:
    path = task.path(rel)
    lines = body.count("\n") + 1
    file = {"filePath": path, "content": body, "numLines": lines, "startLine": 1}
    extra = {"type": "text", "file": {**file, "totalLines": lines}}
    return Call("Read", {"file_path": path}, numbered(body), extra=extra, ms=40)


def missing(task: Task, rel: str) -> Call:
    text = "<tool_use_error>File does not exist.</tool_use_error>"
    return Call("Read", {"file_path": task.path(rel)}, text, True, "Error: File does not exist.")


def write(task: Task, rel: str, content: str) -> Call:
    path = task.path(rel)
    extra = {"type": "create", "filePath": path, "content": content, "structuredPatch": []}
    out = f"File created successfully at: {path}"
    return Call("Write", {"file_path": path, "content": content}, out, extra=extra, ms=30)


def edit(task: Task, rel: str, old: str, new: str, line: int = 12) -> Call:
    path = task.path(rel)
    out = (
        f"The file {path} has been updated. Here's the result of running `cat -n` on a "
        f"snippet of the edited file:\n{numbered(new, line)}"
    )
    extra = {"filePath": path, "oldString": old, "newString": new, "replaceAll": False}
    args = {"file_path": path, "old_string": old, "new_string": new}
    return Call("Edit", args, out, extra={**extra, "userModified": False}, ms=35)


def edit_miss(task: Task, rel: str, old: str, new: str) -> Call:
    out = f"<tool_use_error>String to replace not found in file.\nString: {old}</tool_use_error>"
    args = {"file_path": task.path(rel), "old_string": old, "new_string": new}
    return Call("Edit", args, out, True, "Error: String to replace not found in file.")


def grep(task: Task, pattern: str, rels: list[str], under: str = "app") -> Call:
    out = f"Found {len(rels)} file{'s' * (len(rels) != 1)}\n" + "\n".join(map(task.path, rels))
    extra = {"mode": "files_with_matches", "filenames": rels, "numFiles": len(rels)}
    args = {"pattern": pattern, "path": task.path(under), "output_mode": "files_with_matches"}
    return Call("Grep", args, out if rels else "No files found", extra=extra, ms=120)


def glob(task: Task, pattern: str, rels: list[str]) -> Call:
    out = "\n".join(map(task.path, rels)) or "No files found"
    extra = {"filenames": rels, "numFiles": len(rels), "truncated": False, "durationMs": 18}
    return Call("Glob", {"pattern": pattern}, out, extra=extra, ms=20)


def bash(command: str, description: str, out: str, code: int = 0, ms: int = 900) -> Call:
    """A shell command; a non-zero exit comes back as an error, as Claude Code reports it."""
    args = {"command": command, "description": description}
    if code:
        text = f"Exit code {code}\n{out}"
        return Call("Bash", args, text, True, f"Error: {text}", ms)
    extra = {"stdout": out, "stderr": "", "interrupted": False, "isImage": False}
    return Call("Bash", args, out, extra=extra, ms=ms)


def todos(items: list[str], done: int) -> Call:
    """TodoWrite with the first `done` items completed and the next one in progress."""
    todo = [
        {
            "content": item,
            "status": "completed" if i < done else "in_progress" if i == done else "pending",
            "activeForm": item[0].lower() + item[1:],
        }
        for i, item in enumerate(items)
    ]
    return Call("TodoWrite", {"todos": todo}, TODO_OK, extra={"newTodos": todo}, ms=5)


def one(text: str | None, *calls: Call) -> Beat:
    return [Turn(text, calls)]
