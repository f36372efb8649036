"""Read one ADW workflow folder (`agents/<adw_id>/`) into the records livewatch publishes.

The layout: `adw_state.json` (the workflow's state), one `adw_<phase>_iso/execution.log` per
phase that ran, and one `<agent_name>/raw_output.jsonl` per agent, whose last `result` line
carries the agent's outcome and cost.

Status, first match wins: 1) "error" when adw_state.json can't be used; 2) the state's own
`status` field when it is completed/failed/idle (a declared "running" goes to rule 5);
3) "failed" when any agent's last result line has `is_error: true`; 4) "completed" when the
last non-empty line of the ship phase's execution.log matches /complete|success|shipped/i;
5) "running" when the newest mtime in the folder is within `running_window` seconds of now
(either way; the server passes `--stall-after-s`); 6) otherwise "stalled": it never finished
and has gone quiet. "idle" is left for a state file that says so itself.

Every function here is pure (I/O only inside the given folder) and never raises on folder
content: the server feeds it whatever the agents wrote, so a bad file becomes an `error` record,
never an exception; nothing follows a symlink, blocks on a FIFO, or reads more than a file's tail.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livewatch.hub.records import PHASES, AgentResult, PhaseStep, Workflow, WorkflowDetail
from livewatch.sources.transcript import usage_tokens

__all__ = [
    "ADW_ID_PATTERN",
    "is_valid_adw_id",
    "read_detail",
    "read_workflow",
    "scan",
    "scan_records",
    "workflow_ids",
]

STATE_FILE = "adw_state.json"
LOG_FILE = "execution.log"
RAW_OUTPUT_FILE = "raw_output.jsonl"
STATE_LIMIT = 1024 * 1024  # a real state file is a few KB; anything past 1 MB is not one
TAIL_BYTES = 64 * 1024  # logs and agent streams can be huge: only their tail is read
HEAD_BYTES = 4096  # enough for a log's first line (its start time)
MAX_DEPTH = 32  # deeper state values are dropped, so the record always serializes

# Folder names accepted as ids: one path component, no leading dot, so never "..".
ADW_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_PHASE_DIRS: dict[str, str] = {f"adw_{p}_iso": p for p in PHASES}
_SHIPPED = re.compile(r"complete|success|shipped", re.IGNORECASE)
_STATE_STATUSES = frozenset({"running", "completed", "failed", "idle"})
_DIGITS = re.compile(r"[0-9]{1,30}")
_LOG_TIME = re.compile(r"^\[?(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,6}))?")

# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
# O_NOFOLLOW: a symlink as the last component fails (ELOOP) instead of being followed.
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW
_DIR_FLAGS = _FILE_FLAGS | os.O_DIRECTORY


def is_valid_adw_id(name: str) -> bool:
    """True when `name` is a folder name we accept as an adw_id (safe to join to a path)."""
    # fullmatch, because `$` alone would also accept a trailing newline.
    return isinstance(name, str) and ADW_ID_PATTERN.fullmatch(name) is not None


def read_workflow(
    folder: Path,
    *,
    github_repo: str | None = None,
    now: float | None = None,
    running_window: float = 600.0,
) -> Workflow:
    """Read one workflow folder into a `Workflow` record; never raises."""
    record = _read(
        Path(folder),
        detail=False,
        github_repo=github_repo,
        now=now,
        running_window=running_window,
        log_lines=0,
    )
    return record if record is not None else _error_record(Path(folder).name, _MISSING_FOLDER)


def read_detail(
    folder: Path,
    *,
    github_repo: str | None = None,
    now: float | None = None,
    running_window: float = 600.0,
    log_lines: int = 50,
) -> WorkflowDetail:
    """Read one workflow folder with its state, phase timeline, log tails and agents."""
    record = _read(
        Path(folder),
        detail=True,
        github_repo=github_repo,
        now=now,
        running_window=running_window,
        log_lines=log_lines,
    )
    if not isinstance(record, WorkflowDetail):  # None: the folder does not exist
        return WorkflowDetail(adw_id=Path(folder).name, status="error", error=_MISSING_FOLDER)
    return record


def scan(
    agents_dir: Path,
    *,
    github_repo: str | None = None,
    now: float | None = None,
    running_window: float = 600.0,
    names: Iterable[str] | None = None,
) -> list[Workflow]:
    """Read every workflow folder directly under `agents_dir` (or just `names`), by adw_id."""
    # One clock for the whole scan, so every record is judged against the same instant.
    now = time.time() if now is None else now
    records: list[Workflow] = []
    for name in sorted(workflow_ids(agents_dir) if names is None else names):
        record = _read(
            Path(agents_dir) / name,
            detail=False,
            github_repo=github_repo,
            now=now,
            running_window=running_window,
            log_lines=0,
        )
        if record is not None:  # None: the folder vanished since it was listed
            records.append(record)
    return records


def scan_records(agents_dir: Path, **options: Any) -> list[dict[str, Any]]:
    """`scan`, as the hub keeps records: JSON-ready dicts (picklable, for a scan elsewhere)."""
    return [r.model_dump(mode="json") for r in scan(agents_dir, **options)]


def workflow_ids(agents_dir: Path) -> set[str]:
    """The folder names `scan` would read: real (non-symlink) folders with valid ids."""
    names: set[str] = set()
    try:
        with os.scandir(agents_dir) as entries:
            for entry in entries:
                try:
                    if is_valid_adw_id(entry.name) and entry.is_dir(follow_symlinks=False):
                        names.add(entry.name)
                except OSError:
                    continue  # vanished between listing and type check
    except OSError:
        pass  # missing, not a folder, unreadable or vanished: whatever was listed so far
    return names


# --- internals ---------------------------------------------------------------------------

_MISSING_FOLDER = "workflow folder is missing"


class _NotRegular(Exception):
    """The path opened is not a regular file; `kind` says what it is."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class _PhaseInfo:
    started_at: str | None = None
    log_tail: list[str] = field(default_factory=list)
    last_line: str | None = None


@dataclass
class _Folder:
    """What one pass over a workflow folder found."""

    newest: float
    state: dict[str, Any] | None = None
    error: str | None = None
    phases: dict[str, _PhaseInfo] = field(default_factory=dict)
    agents: list[AgentResult] = field(default_factory=list)


def _read(
    folder: Path,
    *,
    detail: bool,
    github_repo: str | None,
    now: float | None,
    running_window: float,
    log_lines: int,
) -> Workflow | None:
    """The shared reader: a record, or None when the folder does not exist (any more)."""
    name = folder.name
    try:
        found = _gather(folder, name, detail=detail, log_lines=log_lines)
        if found is None:
            return None
        if isinstance(found, str):
            return _error_record(name, found, detail=detail)
        return _build(
            name,
            found,
            detail=detail,
            github_repo=github_repo,
            now=time.time() if now is None else now,
            running_window=running_window,
        )
    except Exception as exc:  # last line of defence: the server must never crash on input
        return _error_record(name, f"could not read workflow folder: {exc!r}", detail=detail)


def _error_record(name: str, error: str, *, detail: bool = False) -> Workflow:
    cls = WorkflowDetail if detail else Workflow
    return cls(adw_id=name, status="error", error=_one_line(error))


def _gather(folder: Path, name: str, *, detail: bool, log_lines: int) -> _Folder | str | None:
    """List the folder (two levels) and read its files: `_Folder`, a folder error, or None."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"workflow folder could not be read: {_reason(exc)}"
    if stat.S_ISLNK(st.st_mode):
        return "workflow folder is a symlink; symlinks are not followed"
    if not stat.S_ISDIR(st.st_mode):
        return f"workflow folder is not a directory ({file_kind(st.st_mode)})"
    try:
        # Everything below is opened relative to this descriptor, so swapping a path for a
        # symlink between our checks and our reads cannot lead us outside the folder.
        fd = os.open(folder, _DIR_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return "workflow folder is a symlink or not a directory; it is not followed"
        if isinstance(exc, PermissionError):
            return f"workflow folder is not readable: {_reason(exc)}"
        return f"workflow folder could not be opened: {_reason(exc)}"
    try:
        return _gather_fd(fd, detail=detail, log_lines=log_lines)
    except OSError as exc:
        return f"workflow folder could not be listed: {_reason(exc)}"
    finally:
        os.close(fd)


def _gather_fd(fd: int, *, detail: bool, log_lines: int) -> _Folder:
    newest, entries = _list(fd)
    newest = max(newest, os.fstat(fd).st_mtime)
    found = _Folder(newest=newest)
    found.state, found.error = _read_state(fd, entries.get(STATE_FILE))
    for entry_name, st in sorted(entries.items()):
        if not stat.S_ISDIR(st.st_mode):  # lstat: a symlink to a folder is not a folder
            continue
        phase = _PHASE_DIRS.get(entry_name)
        info = None
        if phase is not None:
            # The folder's presence alone means the phase ran, even if we can't read it.
            info = found.phases[phase] = _PhaseInfo()
        sub_newest = _read_subfolder(
            fd,
            entry_name,
            found,
            phase_info=info,
            want_log=info is not None and (detail or phase == "ship"),
            want_result=info is None and not entry_name.startswith("."),
            detail=detail,
            log_lines=log_lines,
        )
        found.newest = max(found.newest, sub_newest)
    return found


def _read_subfolder(
    fd: int,
    name: str,
    found: _Folder,
    *,
    phase_info: _PhaseInfo | None,
    want_log: bool,
    want_result: bool,
    detail: bool,
    log_lines: int,
) -> float:
    """Record one subfolder (phase or agent) in `found`; return its newest file mtime."""
    try:
        sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError:
        return 0.0  # vanished, swapped for a symlink, or unreadable: nothing to add
    try:
        newest, files = _list(sub)
        if phase_info is not None:
            log_st = files.get(LOG_FILE)
            if want_log and log_st is not None and stat.S_ISREG(log_st.st_mode):
                _read_log(sub, phase_info, detail=detail, log_lines=log_lines)
        elif want_result:
            raw_st = files.get(RAW_OUTPUT_FILE)
            if raw_st is not None and stat.S_ISREG(raw_st.st_mode):
                found.agents.append(_read_agent(sub, name))
        return newest
    except OSError:
        return 0.0
    finally:
        os.close(sub)


def _list(dir_fd: int) -> tuple[float, dict[str, os.stat_result]]:
    """lstat every entry of an open folder: (newest mtime, name -> stat)."""
    newest = 0.0
    entries: dict[str, os.stat_result] = {}
    with os.scandir(dir_fd) as it:
        for entry in it:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # deleted while we listed
            entries[entry.name] = st
            if st.st_mtime > newest:
                newest = st.st_mtime
    return newest, entries


def _open_regular(dir_fd: int, name: str) -> tuple[int, os.stat_result]:
    """Open `name` in `dir_fd` for reading; refuse symlinks (ELOOP) and non-regular files."""
    fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotRegular(file_kind(st.st_mode))
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _pread(fd: int, size: int, offset: int) -> bytes:
    """Read up to `size` bytes at `offset` (pread may return short counts)."""
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _tail(fd: int, size: int) -> bytes:
    """The last TAIL_BYTES of an open file, starting at a line boundary."""
    offset = max(0, size - TAIL_BYTES)
    data = _pread(fd, TAIL_BYTES, offset)
    if offset > 0:
        # We started mid-line: that partial line is not worth showing or parsing.
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    return data


def _lines(data: bytes) -> list[str]:
    """Split log bytes into lines; bad UTF-8 is replaced rather than refused."""
    lines = [line.rstrip("\r") for line in data.decode("utf-8", "replace").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _read_log(dir_fd: int, info: _PhaseInfo, *, detail: bool, log_lines: int) -> None:
    try:
        fd, st = _open_regular(dir_fd, LOG_FILE)
    except (OSError, _NotRegular):
        return
    try:
        tail = _lines(_tail(fd, st.st_size))
        head = _pread(fd, HEAD_BYTES, 0) if detail else b""
    except OSError:
        return
    finally:
        os.close(fd)
    info.last_line = next((line.strip() for line in reversed(tail) if line.strip()), None)
    if detail:
        info.log_tail = tail[-log_lines:] if log_lines > 0 else []
        info.started_at = _log_time(head)


def line_time(line: str) -> str | None:
    """The timestamp a log line opens with, as naive ISO 8601; None when it has none."""
    return _log_time(line.encode("utf-8", "replace"))


def _usage(usage: Any) -> dict[str, int | None]:
    if not isinstance(usage, dict):
        return {}
    tokens_in, tokens_out = usage_tokens(usage)
    return {"tokens_in": tokens_in, "tokens_out": tokens_out}


def _log_time(head: bytes) -> str | None:
    """The timestamp that opens a log's first line, as naive ISO 8601 (the log has no zone)."""
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    match = _LOG_TIME.match(first)
    if match is None:
        return None
    day, clock, fraction = match.groups()
    return f"{day}T{clock}" + (f".{fraction}" if fraction else "")


def _read_agent(dir_fd: int, name: str) -> AgentResult:
    """An agent's last `result` line from the tail of its raw_output.jsonl."""
    name = _clean_str(name)
    try:
        fd, st = _open_regular(dir_fd, RAW_OUTPUT_FILE)
    except (OSError, _NotRegular):
        return AgentResult(name=name)
    try:
        data = _tail(fd, st.st_size)
    except OSError:
        return AgentResult(name=name)
    finally:
        os.close(fd)
    updated_at = _iso(st.st_mtime)
    for line in reversed(data.split(b"\n")):
        if b"result" not in line:  # cheap filter: most stream lines are not results
            continue
        try:
            event = json.loads(line.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            continue  # a partial line still being written, or junk
        if isinstance(event, dict) and event.get("type") == "result":
            is_error = event.get("is_error")
            return AgentResult(
                name=name,
                is_error=is_error if isinstance(is_error, bool) else None,
                num_turns=_int_or_none(event.get("num_turns")),
                duration_ms=_float_or_none(event.get("duration_ms")),
                cost_usd=_float_or_none(event.get("total_cost_usd")),
                result=_str_or_none(event.get("result")),
                updated_at=updated_at,
                **_usage(event.get("usage")),
            )
    return AgentResult(name=name, updated_at=updated_at)


def _read_state(
    dir_fd: int, listed: os.stat_result | None
) -> tuple[dict[str, Any] | None, str | None]:
    """adw_state.json as a dict, or (None, a one-line reason it can't be used)."""
    try:
        fd, st = _open_regular(dir_fd, STATE_FILE)
    except _NotRegular as exc:
        return None, f"{STATE_FILE} is not a regular file ({exc.kind})"
    except FileNotFoundError:
        return None, f"{STATE_FILE} is missing"
    except OSError as exc:
        if exc.errno == errno.ELOOP or (listed is not None and stat.S_ISLNK(listed.st_mode)):
            return None, f"{STATE_FILE} is a symlink; symlinks are not followed"
        if isinstance(exc, PermissionError):
            return None, f"{STATE_FILE} is not readable: {_reason(exc)}"
        if listed is not None and not stat.S_ISREG(listed.st_mode):  # e.g. a socket: ENXIO
            return None, f"{STATE_FILE} is not a regular file ({file_kind(listed.st_mode)})"
        return None, f"{STATE_FILE} could not be opened: {_reason(exc)}"
    try:
        if st.st_size > STATE_LIMIT:
            return None, f"{STATE_FILE} is {st.st_size} bytes; the limit is {STATE_LIMIT}"
        data = _pread(fd, STATE_LIMIT + 1, 0)
    except OSError as exc:
        return None, f"{STATE_FILE} could not be read: {_reason(exc)}"
    finally:
        os.close(fd)
    if len(data) > STATE_LIMIT:  # it grew after fstat
        return None, f"{STATE_FILE} is over {STATE_LIMIT} bytes; the limit is {STATE_LIMIT}"
    if not data.strip():
        return None, f"{STATE_FILE} is empty"
    try:
        text = data.decode("utf-8-sig")  # -sig: tolerate a BOM some editors write
    except UnicodeDecodeError:
        return None, f"{STATE_FILE} is not valid UTF-8"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return None, f"{STATE_FILE} is not valid JSON: {exc.msg} ({where})"
    except RecursionError:
        return None, f"{STATE_FILE} is not valid JSON: nested too deeply"
    except ValueError as exc:  # e.g. an integer with too many digits
        return None, f"{STATE_FILE} is not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"{STATE_FILE} holds {_json_kind(value)}, not a JSON object"
    return value, None


def _build(
    name: str,
    found: _Folder,
    *,
    detail: bool,
    github_repo: str | None,
    now: float,
    running_window: float,
) -> Workflow:
    """Apply the record rules to what `_gather` found."""
    state = found.state or {}  # as parsed: only `detail` copies it whole (see _jsonable)
    error = found.error
    if found.state is not None:
        state_id = state.get("adw_id")
        if state_id is None:
            error = f"{STATE_FILE} has no adw_id"
        elif state_id != name:
            error = (
                f"adw_id {_short_repr(state_id)} in {STATE_FILE} "
                f"differs from folder name {_short_repr(name)}"
            )

    phase = "plan"
    for candidate in PHASES:
        if candidate in found.phases:
            phase = candidate

    issue_number = _issue_number(state.get("issue_number"))
    status = _status(error, state, found, now=now, running_window=running_window)
    costs = [a.cost_usd for a in found.agents if a.cost_usd is not None]
    fields: dict[str, Any] = {
        "adw_id": name,
        "issue_number": issue_number,
        "phase": phase,
        "github_url": (
            f"https://github.com/{github_repo}/issues/{issue_number}"
            if github_repo and issue_number is not None
            else None
        ),
        "status": status,
        "issue_class": _str_or_none(state.get("issue_class")),
        "branch_name": _str_or_none(state.get("branch_name")),
        "model_set": _str_or_none(state.get("model_set")),
        "all_adws": _str_list(state.get("all_adws")),
        "worktree_path": _str_or_none(state.get("worktree_path")),
        "phases_done": PHASES.index(phase) + (1 if status == "completed" else 0),
        # Rounded: float sums drift (0.1 + 0.2), and a micro-dollar is precise enough.
        "cost_usd": round(sum(costs), 6) if costs else None,
        "updated_at": _iso(found.newest),
        "error": _one_line(error) if error is not None else None,
    }
    if not detail:
        return Workflow(**fields)
    return WorkflowDetail(
        **fields,
        state=_jsonable(state),
        phases=_timeline(phase, status, found.phases),
        agents=sorted(found.agents, key=lambda a: a.name),
    )


def _status(
    error: str | None, state: dict[str, Any], found: _Folder, *, now: float, running_window: float
) -> str:
    """The status rule of the module docstring, in order."""
    if error is not None:
        return "error"
    declared = state.get("status")
    declared = declared.strip().lower() if isinstance(declared, str) else None
    # abs(): a clock-skewed mtime far in the future must not read as "running" forever.
    quiet = not (found.newest > 0 and abs(now - found.newest) <= running_window)
    if declared == "running":
        # A state that says "running" but has gone quiet is exactly what "stalled" flags.
        return "stalled" if quiet else "running"
    if declared in _STATE_STATUSES:
        return declared
    if any(agent.is_error is True for agent in found.agents):
        return "failed"
    ship = found.phases.get("ship")
    if ship is not None and ship.last_line is not None and _SHIPPED.search(ship.last_line):
        return "completed"
    return "stalled" if quiet else "running"


def _timeline(phase: str, status: str, phases: dict[str, _PhaseInfo]) -> list[PhaseStep]:
    current = PHASES.index(phase)
    steps: list[PhaseStep] = []
    for index, name in enumerate(PHASES):
        if index < current or (index == current and status == "completed"):
            step_state = "done"
        elif index == current:
            step_state = "current"
        else:
            step_state = "pending"
        info = phases.get(name) or _PhaseInfo()
        steps.append(
            PhaseStep(
                phase=name,
                state=step_state,
                started_at=info.started_at,
                log_tail=info.log_tail,
            )
        )
    return steps


# --- small coercions ---------------------------------------------------------------------


def _issue_number(value: Any) -> int | None:
    """GitHub issue numbers are written as "42" by ADW; anything unusable becomes None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too big for a float
        return None
    return number if math.isfinite(number) else None


def _str_or_none(value: Any) -> str | None:
    return _clean_str(value) if isinstance(value, str) else None


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [_clean_str(value)]
    if isinstance(value, list):
        return [_clean_str(item) for item in value if isinstance(item, str)]
    return []


def _clean_str(value: str) -> str:
    """JSON escapes can yield lone surrogates, which can't be encoded back: replace them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A copy of parsed JSON that is sure to serialize again (no surrogates, NaN, deep nests)."""
    if isinstance(value, str):
        return _clean_str(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {_clean_str(str(k)): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(item, depth + 1) for item in value]
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, int | float):
        return "a JSON number"
    return "JSON null"


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words: "FIFO", "symlink", "directory", ..."""
    for test, kind in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return kind
    return "special file"


def _iso(timestamp: float) -> str | None:
    """An mtime as ISO 8601 UTC with microseconds, or None if it is out of range."""
    if timestamp <= 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="microseconds")
    except (OverflowError, ValueError, OSError):
        return None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _short_repr(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a JSON value nested near the parser's own limit
        text = f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str, limit: int = 300) -> str:
    """Errors travel as one short line: fold any line breaks and cap the length."""
    line = " ".join(text.split()) or "unknown error"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def has_transcript(agent_folder: os.DirEntry[str] | Path) -> bool:
    """Whether an agent folder holds a `raw_output.jsonl` (a regular file, not a link)."""
    try:
        return stat.S_ISREG(os.lstat(Path(agent_folder) / RAW_OUTPUT_FILE).st_mode)
    except OSError:
        return False
