"""The file watch in a child process: `python -m livewatch.sources.watch_child PATH OPTIONS`.

watchfiles adds one inotify watch per folder, holding the GIL while it does: about 1 s for
68,000 folders. In a child process the server's event loop never stalls for it. The child
speaks JSON lines on stdout (`{"ready":true}`, `{"batch":[[change, path], ...]}`,
`{"error":{...}}`) and ends when the server stops it or is gone.

On the agents dir, changes to transcripts (`gathered_suffix`) and the rest go at two paces.
Agents append to their transcripts without pause: those changes are sent at most once every
`debounce` ms, so the server reads each transcript once for many lines. Any other change (a
state file, a new folder) is sent after one quiet `step`, with the transcript changes held
until then, so a workflow's news never waits behind its agents' lines.

With `"shallow": true` in OPTIONS it watches only the agents dir and the workflow folders in
it, with inotify itself (`watch_shallow`): a first stage that is up at once at start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from typing import Any

import watchfiles

# How often the child checks that the server is still there (and first says it is ready).
TIMEOUT_MS = 100
# The shallow stage's inotify events (linux/inotify.h), by what watchfiles would call them.
NEW = 0x100 | 0x80  # IN_CREATE, IN_MOVED_TO
GONE = 0x200 | 0x40  # IN_DELETE, IN_MOVED_FROM
SHALLOW_MASK = NEW | GONE | 0x2 | 0x4 | 0x8  # and IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE
IS_DIR = 0x40000000  # IN_ISDIR


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


Change = tuple[int, str]


def _say_batch(changes: set[Change]) -> None:
    _say({"batch": sorted([change, path] for change, path in changes)})


class Outbox:
    """Batches on their way to the server: urgent ones at once, gathered ones paced."""

    def __init__(self, gather_s: float) -> None:
        self.gather_s = gather_s
        self._cond = threading.Condition()
        self._held: set[Change] = set()
        self._held_since = 0.0  # monotonic: when the oldest held change came
        self._last_sent = float("-inf")
        threading.Thread(target=self._pace, name="outbox", daemon=True).start()

    def send(self, changes: set[Change], *, urgent: bool) -> None:
        with self._cond:
            now = time.monotonic()
            if not self._held:
                self._held_since = now
            self._held |= changes
            # After a quiet spell a line goes at once; in a stream, lines gather `gather_s`.
            if urgent or now - self._last_sent >= self.gather_s or self._due(now) <= 0:
                self._send_held()
            else:
                self._cond.notify()

    def _due(self, now: float) -> float:
        return self._held_since + self.gather_s - now

    def _send_held(self) -> None:
        if self._held:
            _say_batch(self._held)
            self._held = set()
            self._last_sent = time.monotonic()

    def _pace(self) -> None:
        """Send what was held once it has gathered `gather_s`."""
        with self._cond:
            while True:
                if not self._held:
                    self._cond.wait()
                    continue
                due = self._due(time.monotonic())
                if due > 0:
                    self._cond.wait(due)
                    continue
                try:
                    self._send_held()
                except BrokenPipeError:
                    return  # the server has gone; the main loop notices it too


class GatheredFirst(watchfiles.DefaultFilter):
    """watchfiles' default filter, with a fast yes for the gathered files (transcripts).

    Thousands of transcript changes a second each went through the default filter's path
    split and pattern checks (~4 µs each); none of its ignored folders or names ends so."""

    def __init__(self, suffix: str) -> None:
        super().__init__()
        self.suffix = suffix

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        return path.endswith(self.suffix) or super().__call__(change, path)


def watch(path: str, options: dict[str, Any]) -> None:
    server = os.getppid()
    python_only = options.pop("python_only", False)
    suffix: str | None = options.pop("gathered_suffix", None)
    outbox = None
    watch_filter: watchfiles.BaseFilter = (
        watchfiles.PythonFilter() if python_only else watchfiles.DefaultFilter()
    )
    if suffix is not None:
        outbox = Outbox(options["debounce"] / 1000)
        # watchfiles then hands over each step's changes; the outbox does the pacing.
        options["debounce"] = min(options["debounce"], options["step"])
        watch_filter = GatheredFirst(suffix)
    ready = False
    for batch in watchfiles.watch(
        path,
        watch_filter=watch_filter,
        # No stop event: watchfiles would call it from Rust on every step. The server stops
        # this process with a signal; the timeout is when it looks for an orphaned parent.
        stop_event=None,
        rust_timeout=TIMEOUT_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
        **options,
    ):
        if not ready:
            _say({"ready": True})
            ready = True
        if os.getppid() != server:
            return
        if not batch:
            continue
        changes = {(int(change), changed) for change, changed in batch}
        if outbox is None:
            _say_batch(changes)
        else:
            outbox.send(changes, urgent=any(not p.endswith(suffix) for _, p in changes))


def watch_shallow(path: str, options: dict[str, Any]) -> None:
    """The agents dir and each workflow folder in it, not deeper, until the server stops this.

    What a workflow's record is read from first (its state file) lives there, and this is up
    in ~0.1 s at 10,000 folders: watchfiles takes ~1.3 s for as many paths (a round trip to
    its thread each), and its full watch of 68,000 folders ~2.5 s. The server follows this
    stage until the full watch is up, then stops it.
    """
    from inotify_simple import INotify  # Linux only, as is the start-up that asks for this

    server = os.getppid()
    watch_filter = watchfiles.DefaultFilter()
    inotify = INotify()
    folders = {inotify.add_watch(path, SHALLOW_MASK): path}
    # Listed after the dir's own watch: a folder made meanwhile is caught either way.
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            _watch_folder(inotify, folders, entry.path)
    _say({"ready": True})
    while os.getppid() == server:
        changes: set[Change] = set()
        for event in inotify.read(timeout=TIMEOUT_MS, read_delay=options["step"]):
            folder = folders.get(event.wd)
            if folder is None or not event.name:
                continue
            changed = os.path.join(folder, event.name)
            if folder == path and event.mask & IS_DIR and event.mask & NEW:
                _watch_folder(inotify, folders, changed)  # a new workflow
            change = _change_of(event.mask)
            if watch_filter(change, changed):
                changes.add((int(change), changed))
        if changes:
            _say_batch(changes)


def _watch_folder(inotify: Any, folders: dict[int, str], folder: str) -> None:
    with contextlib.suppress(OSError):  # gone already, or unreadable: the full watch decides
        folders[inotify.add_watch(folder, SHALLOW_MASK)] = folder


def _change_of(mask: int) -> watchfiles.Change:
    if mask & NEW:
        return watchfiles.Change.added
    if mask & GONE:
        return watchfiles.Change.deleted
    return watchfiles.Change.modified


def main(argv: list[str]) -> None:
    path, options = argv[0], json.loads(argv[1])
    if niceness := options.pop("niceness", 0):
        os.nice(niceness)
    try:
        if options.pop("shallow", False):
            watch_shallow(path, options)
        else:
            watch(path, options)
    except BrokenPipeError:
        pass  # the server has gone
    except Exception as error:  # reported to the server, which decides what it means
        detail = {"type": type(error).__name__, "errno": getattr(error, "errno", None)}
        _say({"error": {**detail, "message": str(error)}})


if __name__ == "__main__":
    main(sys.argv[1:])
