"""Benchmark livewatch's hook ingest: `POST /events` at a steady rate, on a real server.

    python bench/hooks.py [--rate 1000] [--senders 8] [--seconds 30] [--quick]
                          [--client aiohttp|httpx] [--processes 1] [--json out.json]
                          [--wait-idle 120]

Starts `python -m livewatch serve` (livewatch.testing.LiveServer: a temp agents dir with 25
workflows, its own `--db` in the same temp dir), then:

- N senders post Claude Code hook bodies as disler's `send_event.py` sends them: PreToolUse,
  then PostToolUse of the same Bash call (~0.8 KB and ~1.3 KB, ~1 KB on average), each with
  the marker `m-<sender>-<n>` at the start of `payload.tool_input.command`. Each sender is one
  app (its own `source_app` and `session_id`) at rate/N posts a second; 8 apps at 125/s stay
  below the default `--hook-rate` of 500/s, which the server keeps (it is raised only when
  one app would have to post more than 400/s). Even senders' `cwd` lies in a workflow's
  worktree (so their posts are linked to it), odd senders' does not.
- The senders are asyncio tasks sharing one HTTP client with a pool of keep-alive
  connections, in a process of their own (`--processes` spreads them over more): open loop,
  post k of a sender at t0 + k / its rate whatever the earlier posts' answers, so a slow
  server shows as latency, not as a lower rate. Each post is stamped with `time.time()` just
  before the request and when its answer is in. The client is aiohttp (a NiceGUI dependency,
  so always installed): on this 2-core VM httpx.AsyncClient spent ~3 ms of CPU per post
  (~0.8 ms for aiohttp), so one httpx process tops out near 300 posts/s, and more processes
  only take more of the cores the server needs. `--client httpx` measures with it anyway.
- One `/ws/events` client and one `/stream` client (in this process, so their stamps are
  not delayed by the senders' work) stamp each marker's arrival.
- At the end the server is SIGKILLed and its SQLite file counted: every post answered 2xx
  must be stored.

Reports posts sent, 2xx, non-2xx by status, POST latency (request → answer), POST → each
stream (from the send stamp), lost and duplicated per stream, the server tree's CPU (% of a
core) and RSS growth after the warm-up. Prints one table; --json writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import multiprocessing
import shutil
import sqlite3
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import aiohttp
import httpx
from websockets.exceptions import ConnectionClosed

from bench.data import build_tree
from bench.event_writer import MARKER, MODEL
from bench.events import EventStream, Row, _sample, text_table
from bench.load import Background
from bench.main import data_root, machine, wait_idle
from bench.metrics import run_async
from bench.servers import ServerProcess, wait_quiet
from bench.stats import summary_ms
from livewatch.testing import LiveServer

DEFAULT_HOOK_RATE = 500.0  # livewatch's --hook-rate default, per source_app
DRAIN_S = 5.0  # how long after the last answer a marker may still arrive
# send_event.py's socket timeout is 5 s; here a slow answer is measured, not dropped. A post
# waiting for one of the pool's connections waits without limit, but once the schedule is
# done, posts still unanswered after LATE_S are given up (counted as "no answer").
POST_TIMEOUT_S = 30.0
LATE_S = 120.0
# What send_event.py sends (urllib adds `Accept-Encoding: identity`: answers come unzipped).
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "Claude-Code-Hook/1.0",
    "Accept-Encoding": "identity",
}
_started = time.monotonic()


@dataclass(frozen=True)
class Plan:
    rate: float = 1000.0  # posts per second, all senders together
    senders: int = 8
    seconds: float = 30.0
    processes: int = 1  # sender processes
    client: str = "aiohttp"  # or "httpx": ~3x the CPU per post here (see the docstring)
    connections: int = 64  # the httpx pool of each sender process
    workflows: int = 25
    warmup_s: float = 5.0  # RSS growth is measured from here

    @property
    def total(self) -> int:
        return round(self.rate * self.seconds)

    def posts_of(self, sender: int) -> int:
        """Post k of the whole run is sender k % senders's post k // senders."""
        return len(range(sender, self.total, self.senders))


QUICK = Plan(rate=200.0, seconds=5.0, warmup_s=1.0)


def say(text: str) -> None:
    print(f"[{time.monotonic() - _started:6.1f}s] {text}", file=sys.stderr, flush=True)


# --- the bodies ----------------------------------------------------------------------------------

PYTEST_OUT = (
    "============================= test session starts ==============================\n"
    "platform linux -- Python 3.11.9, pytest-8.3.3, pluggy-1.5.0\n"
    "rootdir: /home/dev/repo\nconfigfile: pyproject.toml\ncollected 42 items\n\n"
    "tests/test_parser.py ..........................................           [100%]\n\n"
    "============================== 42 passed in 1.37s ==============================\n"
)


@dataclass(frozen=True)
class App:
    """One sender: a project with its hooks, one Claude Code session."""

    sender: int
    source_app: str
    session_id: str
    cwd: str


def apps(senders: int, workflow_ids: list[str]) -> list[App]:
    found = []
    for s in range(senders):
        linked = s % 2 == 0 and s // 2 < len(workflow_ids)
        cwd = f"/home/dev/repo/trees/{workflow_ids[s // 2]}" if linked else f"/home/dev/proj{s}"
        session = f"4f6a0c1e-8f1b-4a8e-9d55-{s:012x}"
        found.append(App(s, f"hooks-bench-{s}", session, cwd))
    return found


def hook_body(app: App, n: int, timestamp_ms: int) -> bytes:
    """The sender's n-th post: PreToolUse (n even) or PostToolUse (n odd) of Bash call n // 2."""
    pre = n % 2 == 0
    kind = "PreToolUse" if pre else "PostToolUse"
    tool_use_id = f"toolu_01H{app.sender:04d}{n // 2:011d}"
    payload: dict[str, Any] = {
        "session_id": app.session_id,
        "transcript_path": f"/home/dev/.claude/projects/-home-dev-repo/{app.session_id}.jsonl",
        "cwd": app.cwd,
        "permission_mode": "default",
        "hook_event_name": kind,
        "tool_name": "Bash",
        "tool_input": {
            "command": f"echo m-{app.sender}-{n} && uv run pytest -q tests/test_parser.py "
            "-k 'not slow' --maxfail=1 -p no:cacheprovider 2>&1 | tail -n 20",
            "description": "Run the parser's unit tests again after the tokenizer change",
        },
        "tool_use_id": tool_use_id,
    }
    if not pre:
        payload["tool_response"] = {
            "stdout": PYTEST_OUT,
            "stderr": "",
            "interrupted": False,
            "isImage": False,
        }
    body = {
        "source_app": app.source_app,
        "session_id": app.session_id,
        "hook_event_type": kind,
        "payload": payload,
        "timestamp": timestamp_ms,
        "model_name": MODEL,
        "tool_name": "Bash",
        "tool_use_id": tool_use_id,
    }
    return json.dumps(body).encode()


# --- the senders (a process of their own) --------------------------------------------------------


@dataclass
class Sent:
    """One sender's posts: due time, send stamp, answer stamp and status (0: no answer)."""

    due: array[float]
    sent: array[float]
    answered: array[float]
    status: array[int]


def run_senders(
    url: str, plan: Plan, t0: float, mine: list[App], conn: Connection
) -> None:  # pragma: no cover - runs in the child
    try:
        conn.send(run_async(_send_all(url, plan, t0, mine)))
    except BaseException as error:
        conn.send({"error": repr(error)})
        raise
    finally:
        conn.close()


Post = Callable[[bytes], Awaitable[int]]  # a body → the answer's status (0: none)


async def _send_all(url: str, plan: Plan, t0: float, mine: list[App]) -> dict[str, Any]:
    """Every post of these senders; then the CPU this process spent while posting."""
    async with contextlib.AsyncExitStack() as stack:
        post = await _poster(stack, url, plan)
        sent = {app.sender: _bodies(plan, t0, app) for app in mine}
        pending: set[asyncio.Task[None]] = set()
        await asyncio.sleep(max(0.0, t0 - time.time()))
        cpu0 = time.process_time()
        await asyncio.gather(*(_sender(post, sent[app.sender], pending) for app in mine))
        cpu_s, posting_s = time.process_time() - cpu0, time.time() - t0
        if pending:
            await asyncio.wait(pending, timeout=LATE_S)
        late = list(pending)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    return {
        "sent": {s: out for s, (out, _) in sent.items()},
        "cpu_s": cpu_s,
        "posting_s": posting_s,
        "given_up": len(late),
    }


async def _poster(stack: contextlib.AsyncExitStack, url: str, plan: Plan) -> Post:
    """`POST /events` through one client with a pool of keep-alive connections, opened
    before t0 as a long-running sender would have them."""
    warm = range(plan.senders)
    headers = HEADERS
    if plan.client == "httpx":
        limits = httpx.Limits(
            max_connections=plan.connections, max_keepalive_connections=plan.connections
        )
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=url,
                limits=limits,
                timeout=httpx.Timeout(POST_TIMEOUT_S, pool=None),
            )
        )
        await asyncio.gather(*(client.get("/healthz") for _ in warm))

        async def post_httpx(body: bytes) -> int:
            try:
                return (await client.post("/events", content=body, headers=headers)).status_code
            except httpx.HTTPError:
                return 0

        return post_httpx
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            base_url=url,
            connector=aiohttp.TCPConnector(limit=plan.connections),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=POST_TIMEOUT_S),
        )
    )

    async def get(path: str) -> None:
        async with session.get(path) as response:
            await response.read()

    await asyncio.gather(*(get("/healthz") for _ in warm))

    async def post_aiohttp(body: bytes) -> int:
        try:
            async with session.post("/events", data=body, headers=headers) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    return post_aiohttp


def _bodies(plan: Plan, t0: float, app: App) -> tuple[Sent, list[bytes]]:
    """The sender's schedule and bodies, built before t0."""
    count = plan.posts_of(app.sender)
    interval = plan.senders / plan.rate
    start = t0 + app.sender / plan.rate  # the senders' posts interleave evenly
    due = array("d", (start + n * interval for n in range(count)))
    bodies = [hook_body(app, n, int(due[n] * 1000)) for n in range(count)]
    unanswered = array("d", [math.nan]) * count
    return Sent(due, array("d", bytes(8 * count)), unanswered, array("i", bytes(4 * count))), bodies


async def _sender(post: Post, schedule: tuple[Sent, list[bytes]], pending: set[Any]) -> None:
    """Start each post on time (without waiting for the earlier ones' answers)."""
    out, bodies = schedule

    async def one(n: int) -> None:
        out.sent[n] = time.time()
        out.status[n] = await post(bodies[n])
        out.answered[n] = time.time()

    for n, due in enumerate(out.due):
        wait = due - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        task = asyncio.create_task(one(n))
        pending.add(task)
        task.add_done_callback(pending.discard)


# --- the stream clients --------------------------------------------------------------------------


class HookStream(EventStream):
    """The `/stream` client: one HookEvent a message, its marker in the payload and the
    summary, so each message counts each marker once."""

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            while True:
                data = await self.ws.recv(decode=False)
                at = time.time()
                assert isinstance(data, bytes)
                self.messages += 1
                self.events_bytes += len(data)
                for found in {(int(m[1]), int(m[2])) for m in MARKER.finditer(data)}:
                    self.arrivals.setdefault(found, []).append(at)
        except ConnectionClosed as closed:
            self.closed = (closed.rcvd.code if closed.rcvd else None, str(closed))


def stream_figures(
    stream: EventStream, plan: Plan, sent: dict[int, Sent], accepted: set[tuple[int, int]]
) -> dict[str, Any]:
    """Lost (accepted, never arrived), duplicated, and send → arrival latency."""
    latencies: list[float] = []
    duplicated = shown_not_accepted = 0
    for (s, n), arrivals in stream.arrivals.items():
        if s not in sent or n >= len(sent[s].sent):
            continue
        duplicated += len(arrivals) - 1
        latencies.append(arrivals[0] - sent[s].sent[n])
        if (s, n) not in accepted:
            shown_not_accepted += 1
    arrived = len(latencies)
    latency = summary_ms(latencies)
    latency.pop("samples", None)
    return {
        "received": arrived,
        "lost": sum(1 for key in accepted if key not in stream.arrivals),
        "duplicated": duplicated,
        "shown_not_accepted": shown_not_accepted,
        "latency": latency,
        "messages": stream.messages,
        "bytes": stream.events_bytes,
        "closed": stream.closed,
    }


# --- the flow ------------------------------------------------------------------------------------


def measure_flow(server: ServerProcess, plan: Plan, everyone: list[App]) -> dict[str, Any]:
    """Fork the sender process(es), then follow the flow from here."""
    context = multiprocessing.get_context("fork")  # forked now: no threads or loop here yet
    t0 = time.time() + 3.0  # room to build the bodies and connect the clients first
    children = []
    for p in range(plan.processes):
        mine = [app for app in everyone if app.sender % plan.processes == p]
        end, child_conn = context.Pipe(duplex=False)
        child = context.Process(
            target=run_senders, args=(server.url, plan, t0, mine, child_conn), daemon=True
        )
        child.start()
        child_conn.close()
        children.append((child, end))
    try:
        return run_async(_follow(server, plan, t0, children))
    finally:
        for child, _ in children:
            child.join(5)
            if child.is_alive():
                child.terminate()


async def _follow(
    server: ServerProcess,
    plan: Plan,
    t0: float,
    children: list[tuple[multiprocessing.process.BaseProcess, Connection]],
) -> dict[str, Any]:
    events = await EventStream(server.ws_url("/ws/events")).open()
    stream = await HookStream(server.ws_url("/stream")).open()
    await asyncio.sleep(max(0.0, t0 - time.time()))
    cpu0, wall0 = server.cpu_seconds(), time.time()
    load = Background().start()
    done = asyncio.Event()
    series = asyncio.create_task(_sample(server, done))
    await asyncio.sleep(plan.warmup_s)
    rss0 = server.rss_mb()
    outs = await asyncio.gather(*(asyncio.to_thread(_receive, end) for _, end in children))
    cpu1, wall1 = server.cpu_seconds(), time.time()
    rss1 = server.rss_mb()
    background = load.stop()
    done.set()
    errors = [out["error"] for out in outs if "error" in out]
    if errors:
        raise RuntimeError(f"a sender process failed: {errors}")
    sent: dict[int, Sent] = {}
    for out in outs:
        sent.update(out["sent"])
    accepted = {
        (s, n) for s, one in sent.items() for n, code in enumerate(one.status) if 200 <= code < 300
    }
    deadline = time.time() + DRAIN_S
    while time.time() < deadline and not (
        all(key in events.arrivals for key in accepted)
        and all(key in stream.arrivals for key in accepted)
    ):
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # a late duplicate would come now
    samples = await series
    await events.close()
    await stream.close()

    statuses = collections.Counter(code for one in sent.values() for code in one.status)
    posts = [
        (one.answered[n], one.sent[n], one.due[n])
        for one in sent.values()
        for n in range(len(one.sent))
    ]
    first = min(p[1] for p in posts)
    last = max(p[1] for p in posts)
    answered = [a for a, _, _ in posts if not math.isnan(a)]
    post_latency = summary_ms([a - s for a, s, _ in posts if not math.isnan(a)])
    post_latency.pop("samples", None)
    lag = summary_ms([max(0.0, s - d) for _, s, d in posts])
    lag.pop("samples", None)
    return {
        "sent": len(posts),
        "accepted": len(accepted),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "not_accepted": {
            ("no answer" if code == 0 else str(code)): count
            for code, count in sorted(statuses.items())
            if not 200 <= code < 300
        },
        "post_latency": post_latency,
        "send_lag": lag,  # how late each post left, against its schedule
        "send_rate": (len(posts) - 1) / max(last - first, 1e-9),
        # accepted posts a second, from the first post sent to the last answer
        "answer_rate": len(accepted) / max(max(answered, default=first) - first, 1e-9),
        # while posting (t0 to the last post started), all sender processes together
        "sender_cpu_pct": 100 * sum(out["cpu_s"] / out["posting_s"] for out in outs),
        "given_up": sum(out["given_up"] for out in outs),
        "ws_events": stream_figures(events, plan, sent, accepted),
        "stream": stream_figures(stream, plan, sent, accepted),
        "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        # the figure a busy shared machine disturbs least: CPU seconds, not wall time
        "cpu_ms_per_post": 1000 * (cpu1 - cpu0) / max(len(accepted), 1),
        "rss_after_warmup_mb": rss0,
        "rss_end_mb": rss1,
        "rss_growth_mb": rss1 - rss0,
        "peak_rss_mb": server.rss_mb("VmHWM"),
        "series": samples,
        "background": background,
    }


def _receive(end: Connection) -> dict[str, Any]:
    if not end.poll(3600):
        return {"error": "no answer from the sender process"}
    try:
        return end.recv()  # type: ignore[no-any-return]
    except EOFError:
        return {"error": "the sender process died"}


def stored_hooks(db: Path) -> int:
    """Hook events in the server's SQLite file (read after the server is gone)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        row = connection.execute("SELECT count(*) FROM events WHERE source = 'hook'").fetchone()
    return int(row[0])


# --- the table and the command -------------------------------------------------------------------


def build_rows(flow: dict[str, Any], plan: Plan) -> list[Row]:
    post, ws, st = flow["post_latency"], flow["ws_events"], flow["stream"]
    bad = sum(flow["not_accepted"].values())
    rows = [
        Row("posts sent", flow["sent"], "", digits=0),
        Row("senders' achieved rate", flow["send_rate"], "posts/s", digits=0),
        Row("senders' lag behind schedule p99", flow["send_lag"].get("p99"), "ms"),
        Row("posts answered 2xx", flow["accepted"], "", digits=0),
        Row("  2xx a second, first post → last answer", flow["answer_rate"], "posts/s", digits=0),
        Row("posts not accepted", bad, "", 0, digits=0),
    ]
    rows += [
        Row(f"  answered {code}", count, "", digits=0)
        for code, count in flow["not_accepted"].items()
    ]
    rows += [
        Row("POST → answer p50", post.get("p50"), "ms"),
        Row("POST → answer p99", post.get("p99"), "ms"),
    ]
    for label, figures in (("/ws/events", ws), ("/stream", st)):
        lat = figures["latency"]
        rows += [
            Row(f"POST → {label} p50", lat.get("p50"), "ms"),
            Row(f"POST → {label} p99", lat.get("p99"), "ms", 100),
            Row(f"{label} lost", figures["lost"], "", 0, digits=0),
            Row(f"{label} duplicated", figures["duplicated"], "", 0, digits=0),
        ]
    rows += [
        Row("stored after SIGKILL, missing", flow.get("stored_missing"), "", 0, digits=0),
        Row("server CPU (process tree)", flow["cpu_pct"], "% core"),
        Row("server CPU per accepted post", flow["cpu_ms_per_post"], "ms", digits=2),
        Row("server RSS growth after warm-up", flow["rss_growth_mb"], "MB"),
        Row("senders' CPU while posting", flow["sender_cpu_pct"], "% core"),
    ]
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/hooks.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rate", type=float, help="posts per second, all senders (1000; quick 200)"
    )
    parser.add_argument("--senders", type=int, help="concurrent senders, one app each (8)")
    parser.add_argument("--seconds", type=float, help="how long the flow lasts (30; quick 5)")
    parser.add_argument("--processes", type=int, help="sender processes (1)")
    parser.add_argument(
        "--client", choices=("aiohttp", "httpx"), help="the senders' HTTP client (aiohttp)"
    )
    parser.add_argument("--connections", type=int, help="httpx pool size per process (64)")
    parser.add_argument("--quick", action="store_true", help="a small run, well under a minute")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--data-dir", type=Path, help="where to build the tree (default /dev/shm)")
    parser.add_argument("--keep", action="store_true", help="keep the tree, db and server log")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra flag for `livewatch serve` (repeat; e.g. --server-arg=--hook-rate=2000)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="first wait up to S seconds for other processes to leave the CPUs alone",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else Plan()
    for name in ("rate", "senders", "seconds", "processes", "connections", "client"):
        if getattr(args, name) is not None:
            plan = replace(plan, **{name: getattr(args, name)})
    plan = replace(plan, processes=max(1, min(plan.processes, plan.senders)))
    return replace(plan, warmup_s=min(plan.warmup_s, plan.seconds / 4))


def hook_rate_args(plan: Plan, given: list[str]) -> list[str]:
    """The default --hook-rate, unless one app must post more than 80 % of it."""
    per_app = plan.rate / plan.senders
    if per_app <= 0.8 * DEFAULT_HOOK_RATE or any(a.startswith("--hook-rate") for a in given):
        return []
    return [f"--hook-rate={math.ceil(2 * per_app)}"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    root = data_root(args.data_dir)
    tree = build_tree(root, plan.workflows, seed=args.seed)
    everyone = apps(plan.senders, tree.ids)
    db = root / "events.db"
    server_args = [
        "--db", str(db),
        "--heartbeat-s", "3600",  # no app-level pings while we measure
        *hook_rate_args(plan, args.server_arg),
        *args.server_arg,
    ]  # fmt: skip
    if args.wait_idle > 0:
        wait_idle(args.wait_idle)
    live = LiveServer(tree.agents_dir, args=server_args, log_path=root / "livewatch.log")
    server: ServerProcess | None = None
    try:
        live.start(timeout=120)
        assert live.process is not None
        server = ServerProcess(
            "livewatch", live.command(), live.port, live.log_path, process=live.process
        )
        say(f"server up on {server.url} (pid {server.pid}): {' '.join(server_args)}")
        settle = wait_quiet(server)
        say(
            f"{plan.senders} senders x {plan.rate / plan.senders:g} posts/s for {plan.seconds:g} s "
            f"in {plan.processes} process(es)"
        )
        flow = measure_flow(server, plan, everyone)
        flow["settle_s"] = settle
        if not server.alive():
            raise RuntimeError(f"the server died:\n{server.log_tail()}")
        live.kill()  # every post answered 2xx must be in the store, even now
        flow["stored"] = stored_hooks(db)
        flow["stored_missing"] = max(0, flow["accepted"] - flow["stored"])
    except Exception:
        if server is not None:
            say(f"server log:\n{server.log_tail()}")
        raise
    finally:
        live.stop()
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    rows = build_rows(flow, plan)
    print(
        f"\n{plan.senders} senders (apps) x {plan.rate / plan.senders:g} posts/s for "
        f"{plan.seconds:g} s = {plan.rate:,.0f} POST /events/s, {plan.processes} sender "
        f"process(es), --hook-rate {server_args_rate(server_args)}\n"
    )
    print(text_table(rows))
    print(f"\nmachine: {machine()}")
    load = flow["background"]
    print(
        f"during the flow, other processes used {load['others_pct']:.0f} % of a core "
        f"(steal {load['steal_pct']:.0f} %); this benchmark's tree {load['ours_pct']:.0f} %"
    )
    for note in _notes(flow):
        print(note)
    if args.json:
        out = {
            "plan": asdict(plan),
            "server_args": server_args,
            "machine": machine(),
            "rows": [r.as_dict() for r in rows],
            "results": {"flow": flow},
            "elapsed_s": time.monotonic() - _started,
        }
        args.json.write_text(json.dumps(out, indent=2))
        say(f"wrote {args.json}")
    return 0


def server_args_rate(server_args: list[str]) -> str:
    found = [a.split("=", 1)[1] for a in server_args if a.startswith("--hook-rate=")]
    return f"{found[-1]}/s" if found else f"{DEFAULT_HOOK_RATE:g}/s (the default)"


def _notes(flow: dict[str, Any]) -> list[str]:
    notes = []
    for label in ("ws_events", "stream"):
        figures = flow[label]
        if figures["closed"]:
            notes.append(f"the {label} client was closed: {figures['closed']}")
        if figures["shown_not_accepted"]:
            notes.append(f"{figures['shown_not_accepted']} posts not accepted showed on {label}")
    if flow["send_lag"].get("p99", 0) > 50:
        notes.append(
            f"the senders fell behind their schedule (p99 {flow['send_lag']['p99']:.0f} ms): "
            "the CPUs were busy (server, other processes), or the senders need --processes"
        )
    return notes


if __name__ == "__main__":
    sys.exit(main())
