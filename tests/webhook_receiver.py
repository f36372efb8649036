"""A real HTTP webhook receiver for the alert tests, in a thread, with a chosen behaviour.

`ok` answers 200; `fail_first` answers 500 to the first `failures` posts, then 200; `error`
always 500; `hang` never answers (until the receiver stops); `redirect` sends a 302 to
itself. Every post's JSON body is kept, with the path it came to.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, mode: str = "ok", *, failures: int = 1) -> None:
        self.mode = mode
        self.path = f"/services/T000/B000/secret-token-{mode}"  # kept if the mode changes
        self.failures = failures
        self.posts: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends the hangs
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"null")
                with receiver.lock:
                    receiver.posts.append(
                        {
                            "path": self.path,
                            "body": body,
                            "at": time.time(),
                            "idempotency_key": self.headers.get("Idempotency-Key"),
                        }
                    )
                    count = len(receiver.posts)
                code = receiver.answer(count)
                if code is None:
                    receiver.release.wait(30)
                    return
                self.send_response(code)
                if code == 302:
                    self.send_header("Location", self.path)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:  # quiet in test output
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def answer(self, count: int) -> int | None:
        if self.mode == "hang":
            return None
        if self.mode == "redirect":
            return 302
        if self.mode == "error" or (self.mode == "fail_first" and count <= self.failures):
            return 500
        return 200

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [p["body"] for p in self.posts]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
