"""The file watch in a child process: `python -m livewatch.sources.watch_child PATH OPTIONS`.

watchfiles adds one inotify watch per folder, holding the GIL while it does: about 1 s for
68,000 folders. In a child process the server's event loop never stalls for it. The child
speaks JSON lines on stdout (`{"ready":true}`, `{"batch":[[change, path], ...]}`,
`{"error":{...}}`) and ends when the server stops it or is gone.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import watchfiles

# How often the child checks that the server is still there (and first says it is ready).
TIMEOUT_MS = 100


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def watch(path: str, options: dict[str, Any]) -> None:
    server = os.getppid()
    python_only = options.pop("python_only", False)
    ready = False
    for batch in watchfiles.watch(
        path,
        watch_filter=watchfiles.PythonFilter() if python_only else watchfiles.DefaultFilter(),
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
        if batch:
            _say({"batch": sorted([int(change), changed] for change, changed in batch)})


def main(argv: list[str]) -> None:
    path, options = argv[0], json.loads(argv[1])
    try:
        watch(path, options)
    except BrokenPipeError:
        pass  # the server has gone
    except Exception as error:  # reported to the server, which decides what it means
        detail = {"type": type(error).__name__, "errno": getattr(error, "errno", None)}
        _say({"error": {**detail, "message": str(error)}})


if __name__ == "__main__":
    main(sys.argv[1:])
