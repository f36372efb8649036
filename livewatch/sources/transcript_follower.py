"""Follow agent transcripts (`agents/<adw_id>/<agent>/raw_output.jsonl`) as they grow.

A `TranscriptFollower` reads only what was appended since its last read, in bounded chunks, and
turns each complete line into events with a `TranscriptParser`. A line still being written is
held until its newline arrives. On first sight it reads only the file's tail (history is the
store's job), unless it was given the (inode, offset) it had reached before a restart. A file
that shrank or was replaced is read again from its start, with the same tail rule.

A `TranscriptTracker` keeps one follower per transcript under an agents folder. Nothing here
follows a symlink, blocks on a FIFO, or raises on file content: a bad file becomes one `error`
event, and never stops the other files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from livewatch.hub.events import Event, new_event, one_line
from livewatch.sources.transcript import TranscriptParser
from livewatch.sources.workflows import RAW_OUTPUT_FILE, file_kind, is_valid_adw_id

__all__ = ["TranscriptFollower", "TranscriptTracker"]

KIB = 1024
MIB = 1024 * KIB
TAIL_EVENTS = 300  # events kept from a transcript seen for the first time
TAIL_BYTES = 512 * KIB  # how far back a first read starts: room for TAIL_EVENTS typical lines
MAX_LINE = 1 * MIB  # longer lines are skipped, never held in memory
CHUNK = 256 * KIB
KEY_CHECK_S = 2.0  # how long a transcript's path stays checked (folders real, inside)
# A busy transcript is read tens of times a second; opening it by path each time (seven
# path components, O_NOFOLLOW) was a tenth of the server's CPU at 2,000 events/s. Its
# descriptor is kept this long, then the path is opened again, so a folder moved or swapped
# meanwhile is noticed within that time; a file deleted or renamed over is noticed at once.
HOLD_S = KEY_CHECK_S
MAX_HELD = 256  # descriptors kept open at once, the most recently read
MAX_CACHED_KEYS = 100_000

# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
# O_NOFOLLOW: a symlink as the last component fails (ELOOP) instead of being followed.
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

State = tuple[int, int]  # (inode, byte offset of the first line not yet fully read)


class TranscriptFollower:
    """Incremental reader of one agent's raw_output.jsonl."""

    def __init__(
        self,
        path: Path,
        adw_id: str | None,
        agent: str,
        *,
        tail_events: int = TAIL_EVENTS,
        max_line: int = MAX_LINE,
        chunk: int = CHUNK,
        tail_bytes: int = TAIL_BYTES,
        resume: State | None = None,
    ) -> None:
        self.path = Path(path)
        self.adw_id = adw_id
        self.agent = agent
        self.tail_events = tail_events
        self.max_line = max_line
        self.chunk = chunk
        self.tail_bytes = tail_bytes
        self._origin = f"file:{adw_id if adw_id is not None else '-'}/{agent}"
        self._parser = TranscriptParser(adw_id, agent)
        self._resume = resume
        self._inode: int | None = None
        self._offset: int | None = None  # start of the current line; None: not found yet
        self._read_pos = 0  # the next byte to read
        self._partial = bytearray()  # the current line's bytes, until its newline arrives
        self._skipping = False  # discarding up to the next newline
        self._problem: str | None = None  # the file problem last reported, so it is said once
        self._fd: int | None = None  # kept open between reads (see HOLD_S)
        self._held_since = 0.0

    @property
    def state(self) -> State | None:
        """(inode, offset) to resume from after a restart; None until a line start is known."""
        if self._inode is None:
            return self._resume
        return None if self._offset is None else (self._inode, self._offset)

    @property
    def holding(self) -> bool:
        """Whether a descriptor is kept open for the next read."""
        return self._fd is not None

    def unread_bytes(self) -> int | None:
        """How far the file has grown past what was read, through the kept descriptor;
        None when none is kept (or it no longer names the path's file)."""
        fd, st = self._held()
        if fd is None or st is None:
            return None
        return max(0, st.st_size - self._read_pos)

    def release(self) -> None:
        """Close the kept descriptor; the next read opens the path again."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def read(self, now_ms: int) -> list[Event]:
        """The events of every line completed since the last read; never raises OSError."""
        fd, st = self._held()
        if fd is None:
            try:
                fd = os.open(self.path, _FLAGS)
            except FileNotFoundError:
                return []  # deleted: the tracker forgets it; recreated: a new inode restarts it
            except OSError as exc:
                return self._report(now_ms, self._open_problem(exc))
        events: list[Event] = []
        tail = keep = False
        try:
            st = st or os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return self._report(
                    now_ms, f"{self.path.name} is a {file_kind(st.st_mode)}; not read"
                )
            tail = self._start(st)
            self._read_appended(fd, st.st_size, now_ms, events)
            self._problem = None
            keep = True
        except OSError as exc:
            events += self._report(now_ms, f"{self.path.name} could not be read: {_reason(exc)}")
        finally:
            if not keep:
                if fd == self._fd:
                    self._fd = None
                os.close(fd)
            elif self._fd is None:
                self._fd, self._held_since = fd, time.monotonic()
        return events[-self.tail_events :] if tail and self.tail_events > 0 else events

    def _held(self) -> tuple[int | None, os.stat_result | None]:
        """The kept descriptor and its file's stat, while it still names the path's file."""
        if self._fd is None:
            return None, None
        st = None
        if time.monotonic() - self._held_since < HOLD_S:
            with contextlib.suppress(OSError):
                st = os.fstat(self._fd)
        # Held too long, unreadable, or deleted or renamed over (the path names another now).
        if st is None or st.st_nlink == 0:
            self.release()
            return None, None
        return self._fd, st

    # --- internals --------------------------------------------------------------------------

    def _start(self, st: os.stat_result) -> bool:
        """Decide where reading goes on; True when this read starts a file afresh (tail rule)."""
        if st.st_ino == self._inode and st.st_size >= self._read_pos:
            return False  # the same file, grown or not: carry on
        resume, self._resume = self._resume, None
        if self._inode is not None:  # replaced or truncated: a new run, with new ids
            self._parser = TranscriptParser(self.adw_id, self.agent)
        self._inode = st.st_ino
        self._partial.clear()
        if resume is not None and resume[0] == st.st_ino and 0 <= resume[1] <= st.st_size:
            self._offset = self._read_pos = resume[1]
            self._skipping = False
            return False
        start = max(0, st.st_size - self.tail_bytes)
        if start == 0:
            self._offset = self._read_pos = 0
            self._skipping = False
        else:
            # Read from the byte before `start`: if it is a newline, `start` begins a line;
            # otherwise the cut line is skipped (it can't be parsed from its middle).
            self._offset, self._read_pos = None, start - 1
            self._skipping = True
        return True

    def _read_appended(self, fd: int, size: int, now_ms: int, events: list[Event]) -> None:
        """Read from `_read_pos` up to `size` (what fstat saw; later bytes wait for next time)."""
        while self._read_pos < size:
            data = os.pread(fd, min(self.chunk, size - self._read_pos), self._read_pos)
            if not data:
                break  # truncated while we read: the next read restarts
            self._consume(data, now_ms, events)
            self._read_pos += len(data)

    def _consume(self, data: bytes, now_ms: int, events: list[Event]) -> None:
        """Split one chunk (starting at `_read_pos`) into lines and parse the complete ones."""
        base = self._read_pos
        at = 0
        while at < len(data):
            newline = data.find(b"\n", at)
            if self._skipping:
                if newline < 0:
                    return
                self._skipping = False
            elif newline < 0:
                if len(self._partial) + len(data) - at > self.max_line:
                    events.append(self._too_long(now_ms))
                    self._partial.clear()
                    self._skipping = True
                else:
                    self._partial += data[at:]
                return
            else:
                line = data[at:newline]
                if self._partial:
                    line = bytes(self._partial) + line
                    self._partial.clear()
                events += self._parse(line, now_ms)
            at = newline + 1
            self._offset = base + at

    def _parse(self, line: bytes, now_ms: int) -> list[Event]:
        if len(line) > self.max_line:
            return [self._too_long(now_ms)]
        return self._parser.parse(line, ts=now_ms, origin=f"{self._origin}@{self._offset}")

    def _too_long(self, now_ms: int) -> Event:
        summary = f"line over {_size(self.max_line)} skipped at byte {self._offset}"
        return self._error(now_ms, summary, origin=f"{self._origin}@{self._offset}")

    def _report(self, now_ms: int, problem: str) -> list[Event]:
        """One error event per distinct file problem, not one per read."""
        if problem == self._problem:
            return []
        self._problem = problem
        return [self._error(now_ms, problem, origin=None)]

    def _error(self, now_ms: int, summary: str, *, origin: str | None) -> Event:
        return _error_event(self.adw_id, self.agent, now_ms, summary, origin=origin)

    def _open_problem(self, exc: OSError) -> str:
        name = self.path.name
        if exc.errno == errno.ELOOP:
            return f"{name} is a symlink; symlinks are not followed"
        if exc.errno == errno.ENXIO:  # a socket (or a device without a driver)
            try:
                return f"{name} is a {file_kind(os.lstat(self.path).st_mode)}; not read"
            except OSError:
                pass
        if isinstance(exc, PermissionError):
            return f"{name} is not readable: {_reason(exc)}"
        return f"{name} could not be opened: {_reason(exc)}"


class TranscriptTracker:
    """One follower per `<adw_id>/<agent>/raw_output.jsonl` under an agents folder."""

    def __init__(
        self,
        agents_dir: Path,
        *,
        tail_events: int = TAIL_EVENTS,
        max_line: int = MAX_LINE,
        chunk: int = CHUNK,
        tail_bytes: int = TAIL_BYTES,
    ) -> None:
        self.agents_dir = Path(agents_dir)
        self._root = self.agents_dir.resolve()
        self._given = self.agents_dir.absolute()
        self._options = {
            "tail_events": tail_events,
            "max_line": max_line,
            "chunk": chunk,
            "tail_bytes": tail_bytes,
        }
        self._followers: dict[str, TranscriptFollower] = {}  # by key "<adw_id>/<agent>/<file>"
        self._saved: dict[str, State] = {}  # resume states for files not followed yet
        self._failed: dict[str, str] = {}  # unexpected failures already reported, by key
        self._keys: dict[str, tuple[str | None, float]] = {}  # path -> (key, when checked)
        # Keys whose follower keeps a descriptor, with when it was last read, oldest first.
        self._held: dict[str, float] = {}

    def discover(self) -> list[Path]:
        """Every `<adw_id>/<agent>/raw_output.jsonl` present; symlinked folders are skipped."""
        found: list[Path] = []
        for adw_id in _real_subfolders(self._root):
            if not is_valid_adw_id(adw_id):
                continue
            for agent in _real_subfolders(self._root / adw_id):
                path = self._root / adw_id / agent / RAW_OUTPUT_FILE
                if not agent.startswith(".") and _exists(path):
                    found.append(path)
        return sorted(found)

    def read_changed(self, paths: Iterable[Path | str], now_ms: int) -> list[Event]:
        """New events of the given transcripts; other paths and paths outside are ignored."""
        events: list[Event] = []
        done: set[str] = set()
        for path in paths:
            key = self._key(path)
            if key is None or key in done:
                continue
            done.add(key)
            follower = self._followers.get(key) or self._follow(key)
            try:
                events += follower.read(now_ms)
                self._failed.pop(key, None)
            except Exception as exc:  # last line of defence: one file must not stop the others
                events += self._report(key, follower, now_ms, exc)
            self._note_held(key, follower)
        return events

    def _note_held(self, key: str, follower: TranscriptFollower) -> None:
        """Keep at most MAX_HELD descriptors: the most recently read transcripts'."""
        self._held.pop(key, None)
        if not follower.holding:
            return
        self._held[key] = time.monotonic()  # to the end: the newest
        while len(self._held) > MAX_HELD:
            self._release(next(iter(self._held)))

    def release_idle(self) -> int:
        """Close the descriptors of transcripts not read for HOLD_S; how many were closed.

        A quiet transcript would not use its descriptor again before the hold ends anyway,
        and an idle server holds no files open."""
        cutoff = time.monotonic() - HOLD_S
        closed = 0
        while self._held and next(iter(self._held.values())) < cutoff:
            self._release(next(iter(self._held)))
            closed += 1
        return closed

    def _release(self, key: str) -> None:
        del self._held[key]
        if (follower := self._followers.get(key)) is not None:
            follower.release()

    def _drop(self, key: str) -> None:
        if (follower := self._followers.pop(key, None)) is not None:
            follower.release()
        self._held.pop(key, None)

    def forget(self, path: Path) -> None:
        """Drop a deleted transcript's follower and saved offset."""
        key = self._key(path)
        self._keys.pop(str(path), None)
        if key is not None:
            self._drop(key)
            self._saved.pop(key, None)
            self._failed.pop(key, None)

    def offsets(self) -> dict[str, State]:
        """(inode, offset) per transcript, keyed by path relative to the agents folder."""
        states = dict(self._saved)
        for key, follower in self._followers.items():
            state = follower.state
            if state is not None:
                states[key] = state
        return states

    def offsets_of(self, keys: Iterable[str]) -> dict[str, State]:
        """`offsets()` for just these keys: a batch touches a few of many thousand files."""
        states = {}
        for key in keys:
            follower = self._followers.get(key)
            state = follower.state if follower is not None else self._saved.get(key)
            if state is not None:
                states[key] = state
        return states

    def resume(self, offsets: Mapping[str, State]) -> None:
        """Seed saved offsets (from `offsets()` before a restart) for files not followed yet."""
        # By the key's shape only: an offset is used once the file is followed, and that path
        # is checked then. Checking 20,000 paths here put a second before the port opened.
        for key, state in offsets.items():
            if _is_key(key) and key not in self._followers and _is_state(state):
                self._saved[key] = (state[0], state[1])

    # --- internals --------------------------------------------------------------------------

    def unread_bytes(self, paths: Iterable[Path | str]) -> int | None:
        """The bytes these transcripts' next reads will read, if every one of them is open
        already (so reading it opens nothing); None otherwise."""
        total = 0
        for path in paths:
            key = self._key(path)
            follower = self._followers.get(key) if key is not None else None
            unread = follower.unread_bytes() if follower is not None else None
            if unread is None:
                return None
            total += unread
        return total

    def key_of(self, path: Path | str) -> str | None:
        """The key `offsets()` uses for `path`, or None when it is no transcript of ours."""
        return self._key(path)

    def _key(self, path: Path | str) -> str | None:
        """`<adw_id>/<agent>/raw_output.jsonl` when `path` is one, inside the agents folder.

        Checked again at most every KEY_CHECK_S per path: every batch names the same busy
        transcripts, and checking them each time was a sixth of the server's work.
        """
        text = str(path)
        if not text.endswith(RAW_OUTPUT_FILE):
            return None
        now = time.monotonic()
        cached = self._keys.get(text)
        if cached is not None and now - cached[1] < KEY_CHECK_S:
            return cached[0]
        key = self._check_key(Path(text))
        if len(self._keys) >= MAX_CACHED_KEYS:
            self._keys.clear()
        self._keys[text] = (key, now)
        return key

    def retain(self, keys: Iterable[str]) -> None:
        """Forget every transcript but these (the ones a full scan found)."""
        keep = set(keys)
        for key in [k for k in self._followers if k not in keep]:
            self._drop(key)
            self._failed.pop(key, None)
        self._keys.clear()

    def _check_key(self, path: Path) -> str | None:
        if path.name != RAW_OUTPUT_FILE:
            return None
        relative = self._relative(path.parent)
        if relative is None or len(relative.parts) != 2:
            return None
        adw_id, agent = relative.parts
        key = f"{adw_id}/{agent}/{RAW_OUTPUT_FILE}"
        if not _is_key(key):
            return None
        # Neither folder may be a symlink (one pointing outside is refused here); the file is
        # the follower's to check, and it never follows one. Two lstat calls, not a resolve()
        # of the whole path: this runs for every transcript of every batch.
        if not (_is_real_dir(self._root / adw_id) and _is_real_dir(self._root / adw_id / agent)):
            return None
        return key

    def _relative(self, folder: Path) -> Path | None:
        """`folder` below the agents dir, by name: as the watcher saw it or resolved."""
        for base in (self._root, self._given):
            try:
                relative = folder.relative_to(base)
            except ValueError:
                continue
            return None if ".." in relative.parts else relative
        return None

    def _follow(self, key: str) -> TranscriptFollower:
        adw_id, agent, _ = key.split("/")
        follower = TranscriptFollower(
            self._root / key, adw_id, agent, resume=self._saved.pop(key, None), **self._options
        )
        self._followers[key] = follower
        return follower

    def _report(
        self, key: str, follower: TranscriptFollower, now_ms: int, exc: Exception
    ) -> list[Event]:
        problem = f"{RAW_OUTPUT_FILE} could not be followed: {exc!r}"
        if self._failed.get(key) == problem:
            return []
        self._failed[key] = problem
        return [_error_event(follower.adw_id, follower.agent, now_ms, problem, origin=None)]


# --- helpers ----------------------------------------------------------------------------------


def _error_event(
    adw_id: str | None, agent: str, now_ms: int, summary: str, *, origin: str | None
) -> Event:
    return new_event(
        ts=now_ms,
        source="file",
        adw_id=adw_id,
        agent=agent,
        kind="error",
        summary=one_line(summary),
        is_error=True,
        origin=origin,
    )


def _real_subfolders(folder: Path) -> list[str]:
    """Names of the folders in `folder` that are not symlinks; [] when it can't be listed."""
    names: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        names.append(entry.name)
                except OSError:
                    continue  # vanished between listing and type check
    except OSError:
        pass
    return names


def _exists(path: Path) -> bool:
    """Present in any form: a symlink or FIFO is listed too, so its follower can say why not."""
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


def _is_key(key: object) -> bool:
    """Shaped like `<adw_id>/<agent>/raw_output.jsonl` (what `_check_key` gives)."""
    if not isinstance(key, str):
        return False
    parts = key.split("/")
    return (
        len(parts) == 3
        and parts[2] == RAW_OUTPUT_FILE
        and is_valid_adw_id(parts[0])
        and bool(parts[1])
        and not parts[1].startswith(".")
        and os.sep not in parts[1]
        and "\0" not in parts[1]
    )


def _is_state(value: object) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)
    )


def _size(count: int) -> str:
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if count >= unit and count % unit == 0:
            return f"{count // unit} {name}"
    return f"{count} bytes"


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
