"""Benchmark livewatch's agent events: many agents streaming at once, on a real server.

    python bench/events.py [--agents 100] [--rate 20] [--seconds 60] [--quick]
                           [--json out.json] [--no-browser]

Builds a temp agents dir (25 workflows, one huge transcript), starts `python -m livewatch serve`
on it (loopback, its own `--db`), and measures, in this order:

3. A 1 KB line appended to a 200 MB transcript, while the server is otherwise quiet: the bytes
   the follower reads (`rchar` of each thread in /proc, SQLite's page reads left out; see
   `measure_huge`), all the server tree reads in 1.5 s, and the same for a 1 MiB transcript.
   The transcript is written before the server starts, so the first read is the tail rule.
1. The flow: N agents append one stream-json line (~580 bytes) each every 1/rate s, from one
   writer process on one schedule. One `/ws/events` client stamps each marker's arrival:
   lost, duplicated, append→client latency; the server tree's CPU and its RSS growth.
2. Meanwhile, one workflow's `adw_state.json` is replaced every 0.5 s: write→protocol-2 delta.
4. Meanwhile (unless --no-browser), Chromium on `/events`: append→newest row painted, pause,
   rows kept and rows in the DOM.

Prints one table (metric, value, target, pass/fail); --json writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import `bench.*` from the repo, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage

from bench import proc
from bench.clients import Pool, marker
from bench.data import Mutator, build_tree, state_body
from bench.event_writer import (
    AGENT_NAME,
    MARKER,
    Schedule,
    init_line,
    receive_stamps,
    run_writer,
    text_line,
    write_huge,
)
from bench.load import Background
from bench.main import data_root, machine, wait_idle
from bench.metrics import run_async
from bench.servers import ServerProcess, livewatch_server, wait_quiet
from bench.stats import summary_ms

MIB = 1 << 20
HUGE_ID = "huge0001"  # the workflow holding the huge transcript, written to by no agent
CONTROL_ID = "ctrl0001"  # the same, with a 1 MiB transcript
HUGE_AGENT = "sdlc_implementor"
WORKFLOW_EVERY_S = 0.5
# The server re-reads a workflow whose transcript grew at most once a second
# (livewatch.sources.watch.TRANSCRIPT_REFRESH_S); a window of 1.5 s holds that re-read.
REFRESH_WINDOW_S = 1.5
DRAIN_S = 5.0  # how long after the last write a marker may still arrive
_started = time.monotonic()


@dataclass(frozen=True)
class Plan:
    agents: int = 100
    rate: float = 20.0  # lines per second per agent
    seconds: float = 60.0
    workflows: int = 25
    huge_mb: int = 200
    huge_samples: int = 5
    browser_seconds: float = 20.0  # how long Chromium watches the newest rows
    warmup_s: float = 5.0  # RSS growth is measured from here


QUICK = Plan(
    agents=10, rate=10.0, seconds=5.0, workflows=5, huge_mb=20, huge_samples=3, warmup_s=1.0
)


def say(text: str) -> None:
    print(f"[{time.monotonic() - _started:6.1f}s] {text}", file=sys.stderr, flush=True)


# --- the data ------------------------------------------------------------------------------------


@dataclass
class Data:
    root: Path
    agents_dir: Path
    workflow_ids: list[str]
    transcripts: list[Path]  # one per agent, in agent order
    huge: Path
    huge_size: int
    control: Path  # a 1 MiB transcript in a quiet workflow of its own
    control_size: int


def build(root: Path, plan: Plan, seed: int) -> Data:
    tree = build_tree(root, plan.workflows, seed=seed)
    transcripts = []
    for agent in range(plan.agents):
        path = tree.agents_dir / tree.ids[agent % len(tree.ids)] / AGENT_NAME.format(agent)
        transcripts.append(_new_transcript(path))
    huge = _quiet_workflow(tree.agents_dir / HUGE_ID, seed) / HUGE_AGENT / "raw_output.jsonl"
    size = write_huge(huge, plan.huge_mb * MIB)
    control = _quiet_workflow(tree.agents_dir / CONTROL_ID, seed) / HUGE_AGENT / "raw_output.jsonl"
    control_size = write_huge(control, MIB)
    return Data(root, tree.agents_dir, tree.ids, transcripts, huge, size, control, control_size)


def _quiet_workflow(folder: Path, seed: int) -> Path:
    folder.mkdir()
    body = state_body(folder.name, 4242, 2, random.Random(seed))
    (folder / "adw_state.json").write_text(json.dumps(body, indent=2), encoding="utf-8")
    return folder


def _new_transcript(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "raw_output.jsonl"
    path.write_bytes(init_line())
    return path


# --- the server ----------------------------------------------------------------------------------


def start_server(data: Data, server_args: list[str], *, attempts: int = 3) -> ServerProcess:
    """`livewatch serve` on the tree, ready once protocol 2 gives its snapshot.

    Another engineer's half-saved edit can break the import for a moment: then wait and retry.
    """
    for attempt in range(1, attempts + 1):
        extra = ["--db", str(data.root / "ev.db"), *server_args]
        server = livewatch_server(data.agents_dir, data.root, extra)
        try:
            run_async(_wait_ready(server))
            return server
        except RuntimeError as error:
            server.stop()
            if attempt == attempts:
                raise
            say(f"the server did not start ({error}); retrying in 60 s")
            time.sleep(60)
    raise AssertionError("unreachable")


async def _wait_ready(server: ServerProcess, timeout: float = 120.0) -> None:
    server.spawn()
    deadline = time.monotonic() + timeout
    while True:
        if not server.alive():
            raise RuntimeError(f"the server exited during start:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server gave no snapshot in {timeout:.0f} s")
        try:
            async with connect(server.ws_url("/ws/workflows?protocol=2"), max_size=None) as ws:
                await asyncio.wait_for(ws.recv(), timeout)
                return
        except (OSError, InvalidHandshake, InvalidMessage):
            await asyncio.sleep(0.05)


# --- the /ws/events client -----------------------------------------------------------------------


class EventStream:
    """One `/ws/events` client: stamps each message with `time.time()` as `recv` returns it.

    Flow markers are counted as they come (every arrival, so duplicates show); other markers
    can be waited for with `expect`.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self.first: dict[str, Any] = {}
        self.arrivals: dict[tuple[int, int], list[float]] = {}
        self.waiters: dict[bytes, asyncio.Future[float]] = {}
        self.messages = 0
        self.events_bytes = 0
        self.closed: tuple[int | None, str] | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> EventStream:
        self.ws = await connect(
            self.url, max_size=None, compression=None, ping_interval=None, max_queue=None
        )
        self.first = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
        self._task = asyncio.create_task(self._read())
        return self

    def expect(self, mark: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[mark.encode()] = future
        return future

    @property
    def unique(self) -> int:
        return len(self.arrivals)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            while True:
                data = await self.ws.recv(decode=False)
                at = time.time()
                assert isinstance(data, bytes)
                self.messages += 1
                self.events_bytes += len(data)
                if data.startswith(b'{"type":"ping"'):
                    await self.ws.send('{"type":"pong"}')
                    continue
                for found in MARKER.finditer(data):
                    key = (int(found[1]), int(found[2]))
                    self.arrivals.setdefault(key, []).append(at)
                for mark, future in list(self.waiters.items()):
                    if mark in data:
                        del self.waiters[mark]
                        if not future.done():
                            future.set_result(at)
        except ConnectionClosed as closed:
            self.closed = (closed.rcvd.code if closed.rcvd else None, str(closed))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)


# --- 3. one line appended to a huge transcript ---------------------------------------------------

PAGE = 4096  # SQLite's page size: the store's reads come in whole pages


async def measure_huge(server: ServerProcess, data: Data, samples: int) -> dict[str, Any]:
    """What the server reads for a 1 KB line appended to the huge transcript (while quiet).

    `rchar` (/proc/<pid>/task/<tid>/io, per thread of the server and its watch child) counts
    every read syscall, not only the transcript's. For one append, the server also reads:
    - the watch child's inotify record and its pipe line to the server (~300 B);
    - the event store's SQLite pages (whole 4 KiB pages of its WAL, ~76 KiB per batch in our
      runs), in the store's thread, right after the broadcast;
    - the workflow re-read of the folder, within a second (TRANSCRIPT_REFRESH_S): its state,
      and the transcript's last 64 KiB, where the result line would be.
    None of these depends on the transcript's size. So each append is measured:
    - when its event reaches the client: per thread, leaving out the threads that read whole
      pages (SQLite): the follower's read (+ the watch pipe), the figure the target is about;
    - over a 1.5 s window, everything the process tree read;
    - against a control: the same line appended to a 1 MiB transcript in another workflow.
    Quiet windows (no append) show what the server reads when nothing happens: nothing.
    """
    stream = await EventStream(server.ws_url("/ws/events")).open()
    nonce = f"{random.getrandbits(32):08x}"
    quiet: list[int] = []
    figures: dict[str, dict[str, list[int]]] = {
        "huge": {"at_arrival": [], "pages_at_arrival": [], "window": []},
        "control": {"at_arrival": [], "pages_at_arrival": [], "window": []},
    }
    latency: list[float] = []
    try:
        for _ in range(samples):
            before = sum(thread_reads(server).values())
            await asyncio.sleep(REFRESH_WINDOW_S)
            quiet.append(sum(thread_reads(server).values()) - before)
        for index in range(samples):
            for name, path in (("huge", data.huge), ("control", data.control)):
                mark = f"h-{name}-{index}-{nonce}"
                line = text_line(f"msg_{name}_{nonce}_{index}", mark, size=1024)
                arrived = stream.expect(mark)
                before = thread_reads(server)
                written = time.time()
                with open(path, "ab") as out:
                    out.write(line)
                at = await asyncio.wait_for(arrived, 10)
                deltas = _deltas(before, thread_reads(server))
                pages = sum(d for d in deltas if d % PAGE == 0)
                figures[name]["at_arrival"].append(sum(deltas) - pages)
                figures[name]["pages_at_arrival"].append(pages)
                if name == "huge":
                    latency.append(at - written)
                await asyncio.sleep(max(0.0, written + REFRESH_WINDOW_S - time.time()))
                figures[name]["window"].append(sum(_deltas(before, thread_reads(server))))
                await asyncio.sleep(0.3)
    finally:
        await stream.close()
    median = {
        name: {key: statistics.median(values) for key, values in parts.items()}
        for name, parts in figures.items()
    }
    return {
        "file_bytes": data.huge_size,
        "control_file_bytes": data.control_size,
        "line_bytes": 1024,
        "read_at_arrival_bytes": median["huge"]["at_arrival"],
        "read_in_window_bytes": median["huge"]["window"],
        "control_in_window_bytes": median["control"]["window"],
        "size_dependent_bytes": median["huge"]["window"] - median["control"]["window"],
        "read_quiet_window_bytes": statistics.median(quiet),
        "baseline_bytes": data.huge_size,  # a seed-style follower re-reads the whole file
        "samples": {**figures, "quiet": quiet},
        "latency": summary_ms(latency),
    }


def thread_reads(server: ServerProcess) -> dict[tuple[int, str], int]:
    """`rchar` of each thread of the server and its children."""
    found: dict[tuple[int, str], int] = {}
    for pid in proc.tree(server.pid):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/io", encoding="ascii") as f:
                    found[pid, tid] = next(
                        int(line.split()[1]) for line in f if line.startswith("rchar:")
                    )
            except (OSError, StopIteration):
                pass
    return found


def _deltas(before: dict[tuple[int, str], int], after: dict[tuple[int, str], int]) -> list[int]:
    return [v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)]


# --- 1, 2, 4. the flow ---------------------------------------------------------------------------


def measure_flow(server: ServerProcess, data: Data, plan: Plan, browser: bool) -> dict[str, Any]:
    """Start the writer (and Chromium) as processes, then follow the flow from here."""
    context = multiprocessing.get_context("fork")  # forked now: no threads or loop here yet
    t0 = time.time() + 3.0  # room to connect the clients first
    schedule = Schedule(plan.agents, plan.rate, plan.seconds, t0)
    writer_end, writer_conn = context.Pipe(duplex=False)
    writer = context.Process(
        target=run_writer, args=(data.transcripts, schedule, writer_conn), daemon=True
    )
    writer.start()
    writer_conn.close()
    chromium = None
    if browser:
        from bench.event_browser import run_browser

        browser_end, browser_conn = context.Pipe(duplex=False)
        chromium = context.Process(
            target=run_browser,
            args=(server.url, t0 + plan.warmup_s, plan.browser_seconds, browser_conn),
            daemon=True,
        )
        chromium.start()
        browser_conn.close()
    try:
        out = run_async(_follow(server, data, plan, schedule, writer_end))
        stamps = out.pop("stamps")
        if chromium is not None:
            seen = browser_end.recv() if browser_end.poll(120) else {"error": "timeout"}
            out["browser"] = newest_latencies(seen, schedule, stamps)
    finally:
        for child in (writer, chromium):
            if child is not None:
                child.join(5)
                if child.is_alive():
                    child.terminate()
    return out


async def _follow(
    server: ServerProcess, data: Data, plan: Plan, schedule: Schedule, writer: Any
) -> dict[str, Any]:
    stream = await EventStream(server.ws_url("/ws/events")).open()
    workflows = Pool(server.ws_url("/ws/workflows?protocol=2"))
    client = await workflows.open_one()
    await asyncio.wait_for(client.ready.wait(), 60)
    await asyncio.sleep(max(0.0, schedule.t0 - time.time()))
    cpu0, wall0 = server.cpu_seconds(), time.time()
    load = Background().start()
    done = asyncio.Event()
    deltas = asyncio.create_task(_workflow_changes(workflows, data, done))
    series = asyncio.create_task(_sample(server, done))
    await asyncio.sleep(plan.warmup_s)
    rss0 = server.rss_mb()
    info, stamps = await asyncio.to_thread(receive_stamps, writer)
    cpu1, wall1 = server.cpu_seconds(), time.time()
    rss1 = server.rss_mb()
    background = load.stop()
    done.set()
    deadline = time.time() + DRAIN_S
    while stream.unique < schedule.total and time.time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a late duplicate would come now
    changes = await deltas
    samples = await series
    await stream.close()
    await workflows.close()

    latencies: list[float] = []
    duplicated = 0
    for (agent, n), arrivals in stream.arrivals.items():
        if agent < schedule.agents and n * schedule.agents + agent < schedule.total:
            latencies.append(arrivals[0] - stamps[schedule.index(agent, n)])
            duplicated += len(arrivals) - 1
    latency = summary_ms(latencies)
    latency.pop("samples", None)
    span = max(info["last"] - info["first"], 1e-9)
    return {
        "written": schedule.total,
        "received": len(latencies),
        "lost": schedule.total - len(latencies),
        "duplicated": duplicated,
        "latency": latency,
        "writer_rate": (schedule.total - 1) / span,
        "writer_max_lag_ms": info["max_lag_s"] * 1000,
        "flow_start": info["first"],
        "flow_end": info["last"],
        "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "rss_after_warmup_mb": rss0,
        "rss_end_mb": rss1,
        "rss_growth_mb": rss1 - rss0,
        "peak_rss_mb": server.rss_mb("VmHWM"),
        "client_messages": stream.messages,
        "client_bytes": stream.events_bytes,
        "client_closed": stream.closed,
        "series": samples,
        "workflows": changes,
        "background": background,
        "stamps": stamps,  # taken out by the caller: too many to print
    }


def newest_latencies(seen: dict[str, Any], schedule: Schedule, stamps: Any) -> dict[str, Any]:
    """Each top row the page painted, as seconds from its line's write (by its marker)."""
    if "error" in seen:
        return seen
    shown, unknown = [], 0
    for text, painted_ms in seen.pop("newest"):
        found = MARKER.search(text.encode())
        agent, n = (int(found[1]), int(found[2])) if found else (-1, -1)
        if 0 <= agent < schedule.agents and 0 <= schedule.index(agent, n) < schedule.total:
            shown.append(painted_ms / 1000 - stamps[schedule.index(agent, n)])
        else:
            unknown += 1  # a sample's row, from before the flow
    return seen | {"newest_s": shown, "newest_unknown": unknown}


async def _workflow_changes(pool: Pool, data: Data, done: asyncio.Event) -> dict[str, Any]:
    """Every 0.5 s, replace one workflow's state; time os.replace → its protocol-2 delta."""
    mutator = Mutator(data.agents_dir)
    rng = random.Random(7)
    seconds: list[float] = []
    missed = 0
    next_at = time.monotonic()
    while not done.is_set():
        adw_id = rng.choice(data.workflow_ids)
        tmp, target, number = mutator.prepare(adw_id)
        next_at += WORKFLOW_EVERY_S
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        expectation = pool.expect(marker(adw_id, number), want=1)
        started = time.perf_counter()
        mutator.commit(tmp, target)
        try:
            await asyncio.wait_for(expectation.done.wait(), 10)
        except TimeoutError:
            missed += 1
            continue
        seconds.append(expectation.times[0] - started)
        next_at = max(next_at, time.monotonic())
    return {**summary_ms(seconds), "missed": missed}


async def _sample(server: ServerProcess, done: asyncio.Event) -> list[dict[str, float]]:
    """The server's CPU seconds and RSS once a second, for the JSON."""
    samples: list[dict[str, float]] = []
    started = time.time()
    while not done.is_set():
        samples.append(
            {"t": time.time() - started, "cpu_s": server.cpu_seconds(), "rss_mb": server.rss_mb()}
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 1.0)
    return samples


# --- the table -----------------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    value: float | None
    unit: str
    target: float | None = None  # an upper bound
    digits: int = 1

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if self.value is None:
            return "fail"
        return "pass" if self.value <= self.target else "fail"

    def cells(self) -> tuple[str, str, str, str]:
        target = "" if self.target is None else f"≤ {_number(self.target, self.digits)}"
        value = "n/a" if self.value is None else _number(self.value, self.digits)
        unit = f" {self.unit}" if self.unit else ""
        return (
            self.metric,
            value + unit,
            target + (unit if target else ""),
            self.verdict,
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}" if digits else f"{round(value):,}"


def build_rows(results: dict[str, Any], plan: Plan) -> list[Row]:
    huge, flow = results["huge"], results["flow"]
    lat, wf = flow["latency"], flow["workflows"]
    mb = huge["file_bytes"] / MIB
    rows = [
        Row("1 events written", flow["written"], "", digits=0),
        Row("1 events received", flow["received"], "", digits=0),
        Row("1 events lost", flow["lost"], "", 0, digits=0),
        Row("1 events duplicated", flow["duplicated"], "", 0, digits=0),
        Row("1 writer's achieved rate", flow["writer_rate"], "lines/s", digits=0),
        Row("1 append→client p50", lat.get("p50"), "ms", 30),
        Row("1 append→client p95", lat.get("p95"), "ms"),
        Row("1 append→client p99", lat.get("p99"), "ms", 150),
        Row("1 server CPU (process tree)", flow["cpu_pct"], "% core", 60),
        Row("1 server RSS growth", flow["rss_growth_mb"], "MB", 50),
        Row("2 workflow write→delta p50", wf.get("p50"), "ms", 20),
        Row("2 workflow write→delta p99", wf.get("p99"), "ms"),
        Row(
            f"3 1 KB append to {mb:.0f} MB: follower read",
            huge["read_at_arrival_bytes"],
            "B",
            4096,
            digits=0,
        ),
        Row("3   all reads in 1.5 s (store, re-read)", huge["read_in_window_bytes"], "B", digits=0),
        Row(
            "3   same, append to a 1 MB transcript", huge["control_in_window_bytes"], "B", digits=0
        ),
        Row("3   quiet 1.5 s, no append", huge["read_quiet_window_bytes"], "B", digits=0),
        Row("3   seed-style baseline (whole file)", huge["baseline_bytes"], "B", digits=0),
        Row(
            "3   ratio follower read ÷ baseline",
            huge["read_at_arrival_bytes"] / huge["file_bytes"],
            "",
            digits=6,
        ),
    ]
    browser = flow.get("browser")
    if browser is not None and "error" not in browser:
        dom = summary_ms(browser["newest_s"])
        rows += [
            Row("4 /events page load (Chromium)", browser["page_load_s"] * 1000, "ms"),
            Row("4 newest rows painted, from 1 s on", len(browser["newest_s"]), "", digits=0),
            Row("4 append→newest row painted p50", dom.get("p50"), "ms", 300),
            Row("4 append→newest row painted p99", dom.get("p99"), "ms", 300),
            Row("4 append→newest row painted max", dom.get("max"), "ms"),
            Row("4 pause click→data-paused", browser["pause_ms"], "ms", 200),
            Row("4 rows kept (max seen)", _or_none(browser["rows_kept"]), "", 300, digits=0),
            Row("4 rows in the DOM (max seen)", _or_none(browser["rows_max"]), "", digits=0),
        ]
    return rows


def _or_none(value: float) -> float | None:
    return None if value < 0 else value


def text_table(rows: list[Row]) -> str:
    cells = [("metric", "value", "target", "result"), *(r.cells() for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = []
    for index, row in enumerate(cells):
        lines.append(
            "  ".join(
                (cell.ljust(w) if i == 0 else cell.rjust(w) if i < 3 else cell)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- the command ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/events.py", description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, help="agents writing at once (100; quick 10)")
    parser.add_argument("--rate", type=float, help="lines per second per agent (20; quick 10)")
    parser.add_argument("--seconds", type=float, help="how long the flow lasts (60; quick 5)")
    parser.add_argument("--workflows", type=int, help="workflows the agents are spread over (25)")
    parser.add_argument("--huge-mb", type=int, help="size of the huge transcript (200; quick 20)")
    parser.add_argument("--quick", action="store_true", help="a small run, well under a minute")
    parser.add_argument("--no-browser", action="store_true", help="skip Chromium (metric 4)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--data-dir", type=Path, help="where to build the tree (default /dev/shm)")
    parser.add_argument("--keep", action="store_true", help="keep the tree and the server log")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra flag for `livewatch serve` (repeat; e.g. --server-arg=--debounce-ms=50)",
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
    for name in ("agents", "rate", "seconds", "workflows", "huge_mb"):
        if getattr(args, name) is not None:
            plan = replace(plan, **{name: getattr(args, name)})
    plan = replace(plan, warmup_s=min(plan.warmup_s, plan.seconds / 4))
    # Chromium watches while the flow lasts, and leaves room for its page to load.
    watch_s = min(plan.browser_seconds, max(1.0, plan.seconds - plan.warmup_s - 3.0))
    return replace(plan, browser_seconds=watch_s)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    root = data_root(args.data_dir)
    say(f"building {plan.workflows} workflows, {plan.agents} agents, {plan.huge_mb} MB transcript")
    data = build(root, plan, args.seed)
    results: dict[str, Any] = {}
    if args.wait_idle > 0:
        wait_idle(args.wait_idle)
    server = None
    try:
        server = start_server(data, args.server_arg)
        say(f"server up on {server.url} (pid {server.pid}); waiting until it is quiet")
        results["settle_s"] = wait_quiet(server)
        say(f"3: 1 KB appends to the {data.huge_size / MIB:.0f} MB transcript")
        results["huge"] = run_async(measure_huge(server, data, plan.huge_samples))
        wait_quiet(server)
        rate = plan.agents * plan.rate
        say(f"1, 2{', 4' if not args.no_browser else ''}: {rate:,.0f} lines/s for {plan.seconds} s")
        results["flow"] = measure_flow(server, data, plan, browser=not args.no_browser)
        if not server.alive():
            raise RuntimeError(f"the server died:\n{server.log_tail()}")
    except Exception:
        if server is not None:
            say(f"server log:\n{server.log_tail()}")
        raise
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    rows = build_rows(results, plan)
    flow = results["flow"]
    print(
        f"\n{plan.agents} agents x {plan.rate:g} lines/s for {plan.seconds:g} s "
        f"({plan.agents * plan.rate:,.0f} events/s) over {plan.workflows} workflows\n"
    )
    print(text_table(rows))
    print(f"\nmachine: {machine()}")
    load = flow["background"]
    print(
        f"during the flow, other processes used {load['others_pct']:.0f} % of a core "
        f"(steal {load['steal_pct']:.0f} %); this benchmark's tree {load['ours_pct']:.0f} %"
    )
    notes = _notes(flow)
    if notes:
        print("\n".join(notes))
    if args.json:
        out = {
            "plan": asdict(plan),
            "machine": machine(),
            "rows": [r.as_dict() for r in rows],
            "results": results,
            "elapsed_s": time.monotonic() - _started,
        }
        args.json.write_text(json.dumps(out, indent=2))
        say(f"wrote {args.json}")
    return 0


def _notes(flow: dict[str, Any]) -> list[str]:
    notes = []
    if flow["client_closed"]:
        notes.append(f"the /ws/events client was closed: {flow['client_closed']}")
    if flow["workflows"].get("missed"):
        notes.append(f"{flow['workflows']['missed']} workflow changes never arrived (10 s)")
    browser = flow.get("browser")
    if browser is not None:
        if "error" in browser:
            notes.append(f"the browser part failed: {browser['error']}")
        else:
            end = flow["flow_end"]
            if browser["paused_at"] > end:
                notes.append("the pause was measured after the flow had ended")
            if not browser["pause_held"]:
                notes.append("paused, the feed's top row still changed")
            if browser["navigations"] > 1:
                notes.append(f"the /events page reloaded {browser['navigations'] - 1} times")
    return notes


if __name__ == "__main__":
    sys.exit(main())
