"""Turn filesystem events into batches for the hub, repair what inotify drops, never die.

`WorkflowWatcher` follows `agents/`: each batch of events names the workflow folders that
changed; only those are re-read (in a thread, so the event loop never blocks on disk) and
applied to the hub in one go. A slow reconciliation scan makes the hub exact even when the
kernel's event queue overflowed. `RoutesWatcher` does the same for the route table.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

import watchfiles

from livewatch import metrics
from livewatch.hub.collection import Change, Collection
from livewatch.hub.records import Route
from livewatch.settings import Settings
from livewatch.sources import workflows
from livewatch.sources.file_events import FileEvents
from livewatch.sources.prefetch import FirstScan, Records, Scanned
from livewatch.sources.routes import (
    RoutesError,
    TargetRoutes,
    introspect_target,
    introspect_target_async,
)
from livewatch.sources.staged_events import WatchEvents
from livewatch.sources.transcript_feed import TranscriptFeed, is_transcript
from livewatch.supervision import sleep_unless

log = logging.getLogger("livewatch.watch")

# "verifying": watching, while a scan begun after the watches went up checks the list.
WatcherState = Literal["starting", "verifying", "watching", "polling", "waiting", "stopped"]

# Errors that a writer caught mid-write produces, and how soon to look again.
TORN_WRITE_ERRORS = ("adw_state.json is empty", "adw_state.json is not valid JSON")
TORN_RETRY_S = 0.25
# A folder made a moment ago is watched only once the watch process has added a watch on it;
# a file renamed into it before then brings no event (inotify's race, which the soak test
# hit: a workflow removed, made again and rewritten at once kept showing its older state).
# A new workflow folder is therefore read again after these delays.
NEW_FOLDER_REREAD_S = (0.5, 2.0)
# Full rescans are spaced by at least this many times their own duration: ~0.1% of a core.
RECONCILE_DUTY = 1000
# A workflow whose only news is transcript lines is re-read at most this often.
TRANSCRIPT_REFRESH_S = 1.0
# A workflow whose transcripts only grew (no result line) is re-read this rarely: its record
# changes then only in `updated_at`, and at thousands of lines a second re-reading every
# busy workflow each second was a tenth of the server's CPU. The stall check re-reads any
# that look quiet before calling them stalled, so this never makes one stall by mistake.
TRANSCRIPT_GROWTH_REFRESH_S = 5.0
# The stall check sleeps until the soonest running workflow crosses --stall-after-s, so it
# turns "stalled" as it crosses it (waking a little after, as mtimes and clocks are coarse);
# it wakes at least this often, since a workflow may start running meanwhile.
STALL_CHECK_S = 1.0
STALL_MARGIN_S = 0.02
STALL_MIN_SLEEP_S = 0.05
# The port opens once the watches are up (so every write made after it shows at once), or
# after this long on a tree so large that setting them up takes longer.
READY_WAIT_S = 10.0
ROUTES_DEBOUNCE_MS = 1600  # watchfiles' default: an editor's save is often several writes


def _looks_torn(error: object) -> bool:
    return isinstance(error, str) and error.startswith(TORN_WRITE_ERRORS)


def _is_inotify_exhausted(error: OSError) -> bool:
    text = str(error).lower()
    return "watch limit" in text or "too many open files" in text or error.errno == 28


class WorkflowWatcher:
    """Keeps the hub's workflow collection equal to what `agents/` holds."""

    def __init__(
        self,
        agents_dir: Path,
        collection: Collection,
        *,
        github_repo: str | None = None,
        running_window_s: float = 600.0,
        debounce_ms: int = 200,
        step_ms: int = 8,
        reconcile_s: float = 30.0,
    ) -> None:
        self.agents_dir = agents_dir.absolute()
        self.collection = collection
        self.github_repo = github_repo
        self.running_window_s = running_window_s
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.reconcile_s = reconcile_s
        self.state: WatcherState = "starting"
        self.force_polling = False
        self.skip_unreadable = False
        self.events = 0
        self.corrections = 0
        self.last_event_ts: float | None = None
        self.last_reconcile_s = 0.0  # how long the last full pass took (transcripts, scan)
        self._retries: set[asyncio.Task[None]] = set()
        # Re-reads run in threads and come from several loops (events, torn-write retries, the
        # stall check): one at a time, so each applies in the order it read. Two at once could
        # finish out of order, and an older read would hide a newer one until the next write.
        self._refreshing = asyncio.Lock()
        self._events: WatchEvents | None = None  # started by `prime`, taken by the first session
        # True until a scan begun after the watches went up has checked the list.
        self.verifying = False
        self._first_scan: FirstScan | Scanned | None = None  # the scan `prime` did not wait for
        self._primed: set[str] | None = None  # what the event path re-read since `prime`
        # One set per scan under way: the workflows the event path re-read meanwhile.
        self._fresh: list[set[str]] = []
        # Agent transcripts grow many times a second: their lines go to the event feed at
        # once; their workflows are re-read within TRANSCRIPT_REFRESH_S of a result line,
        # else at most once per TRANSCRIPT_GROWTH_REFRESH_S.
        self.transcripts: TranscriptFeed | None = None
        self._transcript_touched: set[str] = set()
        self._scan_follows = False  # transcripts are caught up just before a full scan
        self._transcript_results: set[str] = set()  # touched by a result line: re-read soon
        # Each running workflow's newest write (epoch s), kept from the hub's changes, so the
        # stall check costs O(running workflows) a second, not a pass over every record.
        self._running: dict[str, float] = {}
        # Running workflows the stall check re-read and found still running (a write it
        # could not see yet, or an unreadable folder): looked at again no sooner than this.
        self._stall_recheck: dict[str, float] = {}
        collection.observe(self._track_running)

    @classmethod
    def from_settings(cls, settings: Settings, collection: Collection) -> WorkflowWatcher:
        return cls(
            settings.agents_dir,
            collection,
            github_repo=settings.github_repo,
            running_window_s=settings.stall_after_s,
            debounce_ms=settings.debounce_ms,
            step_ms=settings.step_ms,
            reconcile_s=settings.reconcile_s,
        )

    # -- reading -------------------------------------------------------------------------

    def _read_kwargs(self) -> dict[str, object]:
        return {"github_repo": self.github_repo, "running_window": self.running_window_s}

    def _scan(self) -> list[dict[str, object]]:
        return workflows.scan_records(self.agents_dir, **self._read_kwargs())

    def _file_events(self) -> FileEvents:
        return FileEvents.for_workflows(
            self.agents_dir,
            debounce_ms=self.debounce_ms,
            step_ms=self.step_ms,
            force_polling=self.force_polling,
            # Ignoring "permission denied" would also hide an exhausted inotify limit (watchfiles
            # then watches part of the tree, silently): only ignore it once it was really seen.
            ignore_permission_denied=self.skip_unreadable,
        )

    def prime(
        self,
        scanned: FirstScan | Scanned | None = None,
        *,
        watch: bool = False,
        snapshot: Records | None = None,
    ) -> None:
        """The first list, before the server starts (blocking on purpose).

        `snapshot` is the last known list (from the store): it is served at once, and the
        scan `scanned` (made in other processes by `prefetch`) corrects it once the port is
        open. Without one, the list is `scanned`'s records (or a scan made here). With
        `watch`, this waits until the watches are up (prefetch's, or ones started now), so a
        write made once the port is open is never missed; the first session of `run` takes
        them over (so call that next) and verifies the list behind them.
        """
        self._first_scan = scanned
        if snapshot is not None:
            self.collection.replace(snapshot)
            self._primed = self._collect_fresh()
        else:
            records = scanned() if scanned is not None else None
            self.collection.replace(records if records is not None else self._scan())
        self.verifying = True
        taken = scanned.take_events() if isinstance(scanned, FirstScan) else None
        if watch and self.agents_dir.is_dir():
            # Started only now when prefetch did not: two walks of one tree slow each other.
            self._events = taken or self._file_events()
            if not self._events.wait_ready(READY_WAIT_S):
                log.warning("[WATCH] the watches are not up after %.0fs; serving", READY_WAIT_S)
        elif taken is not None:
            taken.close()

    def _collect_fresh(self) -> set[str]:
        """Start collecting the workflows the event path re-reads (see `reconcile`)."""
        fresh: set[str] = set()
        self._fresh.append(fresh)
        return fresh

    def _stop_collecting(self, fresh: set[str]) -> None:
        if any(f is fresh for f in self._fresh):
            self._fresh = [f for f in self._fresh if f is not fresh]

    async def reconcile(
        self, scanned: Scanned | None = None, *, fresh: set[str] | None = None
    ) -> int:
        """Rescan everything (or take `scanned`'s records) and make the hub exact; returns
        how many records it corrected.

        The scan takes seconds, and may read a workflow before a write that the event path
        then re-read: those are left alone (else the pass would revert them until the next
        one). `fresh` collects them from an earlier moment than this call (`prime`).
        """
        # The whole pass is timed, transcripts too, since it spaces the next (RECONCILE_DUTY).
        # Timing the scan alone, a first start's (done in the scan processes long before, so
        # only joined here: 0.1 s) brought a full pass back 100 s later: ~20 CPU-s at 10,000.
        started = time.monotonic()
        if self.transcripts is not None:
            # The result lines this reads need no re-read of their workflows: the scan below
            # reads them all. (At a first start that is every finished workflow's last line.)
            self._scan_follows = True
            try:
                await self.transcripts.catch_up()
            finally:
                self._scan_follows = False
        fresh = self._collect_fresh() if fresh is None else fresh
        try:
            records = await asyncio.to_thread(scanned) if scanned is not None else None
            if records is None:  # none given, or the scan processes failed
                records = await asyncio.to_thread(self._scan)
            self.last_reconcile_s = time.monotonic() - started
        finally:
            self._stop_collecting(fresh)
        found = {self.collection.key(r): r for r in records}
        change = self.collection.apply(
            [r for k, r in found.items() if k not in fresh],
            [
                k
                for k in map(self.collection.key, self.collection.records())
                if k not in found and k not in fresh
            ],
        )
        return 0 if change is None else len(change.upsert) + len(change.remove)

    async def _catch_up(self) -> None:
        """Make the list exact while the events already flow (the watches are up)."""
        first, self._first_scan = self._first_scan, None
        primed, self._primed = self._primed, None
        fresh: set[str] | None = None
        try:
            deferred = isinstance(first, FirstScan) and first.deferred
            if primed is not None and first is not None and not deferred:
                # The list came from the store: the first scan corrects it soonest.
                await self.reconcile(first, fresh=primed)
            # That scan began before the watches were up, and may have read a workflow
            # before a write they missed: only a scan begun now is sure to see every write.
            # What the event path re-reads is collected from before that scan starts, or a
            # write landing between the two would be reverted by the scan's older read.
            fresh = self._collect_fresh()
            again = await asyncio.to_thread(first.again) if isinstance(first, FirstScan) else None
            corrected = await self.reconcile(again, fresh=fresh)
        finally:
            for collecting in (primed, fresh):
                if collecting is not None:
                    self._stop_collecting(collecting)
            if isinstance(first, FirstScan):
                first.close()
        self.verifying = False
        self.state = "polling" if self.force_polling else "watching"
        log.info("[WATCH] verified the list (%d corrected)", corrected)

    def _read_ids(self, ids: set[str]) -> tuple[list[dict[str, object]], list[str]]:
        upsert, remove = [], []
        for adw_id in ids:
            folder = self.agents_dir / adw_id
            if folder.is_dir() and not folder.is_symlink():
                record = workflows.read_workflow(folder, **self._read_kwargs())
                upsert.append(record.model_dump(mode="json"))
            else:
                remove.append(adw_id)
        return upsert, remove

    async def refresh(self, ids: set[str], *, retry_torn: bool = True) -> None:
        """Re-read just these workflow folders and apply them to the hub as one batch."""
        async with self._refreshing:
            for fresh in self._fresh:  # before the read: a scan under way must not undo these
                fresh.update(ids)
            upsert, remove = await asyncio.to_thread(self._read_ids, ids)
            metrics.READ_ERRORS.inc(sum(1 for r in upsert if r.get("error")))
            self.collection.apply(upsert, remove)
        torn = {str(r["adw_id"]) for r in upsert if _looks_torn(r.get("error"))}
        if torn and retry_torn:
            # A writer caught mid-write: its next write usually brings an event, but a
            # writer that truncates and then writes in place may not; look once more.
            self._read_later(torn, (TORN_RETRY_S,))

    def _read_later(self, ids: set[str], delays: tuple[float, ...]) -> None:
        """Read these workflows again after each delay, in a task of their own."""
        task = asyncio.create_task(self._read_again(ids, delays))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _read_again(self, ids: set[str], delays: tuple[float, ...]) -> None:
        for delay in delays:
            await asyncio.sleep(delay)
            await self.refresh(ids, retry_torn=False)

    def new_folders(self, changes: set[tuple[watchfiles.Change, str]]) -> set[str]:
        """The workflow folders a batch saw appear (not files in them, not deeper folders)."""
        added = {path for kind, path in changes if kind == watchfiles.Change.added}
        prefix = f"{self.agents_dir}{os.sep}"
        return {i for i in self.ids_of(changes) if f"{prefix}{i}" in added}

    def _reread_new_folders(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        """Read again, a little later, the workflow folders this batch saw appear."""
        if new := self.new_folders(changes):
            self._read_later(new, NEW_FOLDER_REREAD_S)

    def ids_of(self, changes: set[tuple[watchfiles.Change, str]]) -> set[str]:
        # Plain string work: at thousands of transcript lines a second, pathlib was a tenth
        # of the server's time here. watchfiles names paths below the dir it was given.
        prefix = f"{self.agents_dir}{os.sep}"
        ids = set()
        for _, path in changes:
            if path.startswith(prefix):
                first = path[len(prefix) :].split(os.sep, 1)[0]
                if first not in ids and workflows.is_valid_adw_id(first):
                    ids.add(first)
        return ids

    # -- loops ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until `stop`; a missing agents dir is waited for, a deleted one re-found."""
        try:
            while not stop.is_set():
                if not self.agents_dir.is_dir():
                    self.state = "waiting"
                    if self._events is not None:  # primed on a dir that has gone since
                        self._events.close()
                        self._events = None
                    await self.reconcile()  # an agents dir that vanished empties the hub
                    self.verifying = False  # nothing to verify: the list is empty, as is the dir
                    while not self.agents_dir.is_dir():
                        if await sleep_unless(stop, 0.25):
                            return
                    log.info("[WATCH] agents dir appeared: %s", self.agents_dir)
                await self._watch_once(stop)
        finally:
            self.state = "stopped"

    async def _watch_once(self, stop: asyncio.Event) -> None:
        """One watch session on the agents dir, ended by `stop` or by the dir going away."""
        session_end = asyncio.Event()
        root_id = _inode(self.agents_dir)
        reconciler = asyncio.create_task(self._reconcile_loop(stop, session_end, root_id))
        touched = asyncio.create_task(self._refresh_touched(stop, session_end))
        stalls = asyncio.create_task(self._stall_loop(stop, session_end))
        events, self._events = self._events or self._file_events(), None
        closer = asyncio.create_task(_close_on(events, stop, session_end))
        if events.wait_ready(0):  # events flow already (at start-up, maybe a first stage's)
            self.verifying, self.state = True, "verifying"
        catch_up = asyncio.create_task(self._verify_once_watched(events))
        catch_up.add_done_callback(lambda task: _end_if_failed(task, session_end))
        try:
            async for changes in events:
                self.events += len(changes)
                metrics.WATCHER_EVENTS.inc(len(changes))
                self.last_event_ts = time.time()
                lines, changes = self._split_transcripts(changes)
                # Workflow changes first: a state file's news must not wait for the hundreds
                # of transcript lines that came in the same batch.
                if ids := self.ids_of(changes):
                    await self.refresh(ids)
                    self._reread_new_folders(changes)
                if lines and self.transcripts is not None:
                    self.transcripts.notify(lines)
                if _inode(self.agents_dir) != root_id:
                    return
        except OSError as error:
            if _is_inotify_exhausted(error) and not self.force_polling:
                log.warning("[WATCH] inotify limit reached (%s); falling back to polling", error)
                self.force_polling = True
            elif isinstance(error, PermissionError) and not self.skip_unreadable:
                log.warning("[WATCH] %s; watching the folders that can be read", error)
                self.skip_unreadable = True
            else:
                raise
        finally:
            session_end.set()
            catch_up.cancel()
            reconciler.cancel()
            touched.cancel()
            stalls.cancel()
            closer.cancel()
            events.close()

    async def _verify_once_watched(self, events: WatchEvents) -> None:
        """The catch-up pass, begun once every watch is up: a write made during its scan is
        never missed, and the scan catches what came before. Events are followed meanwhile
        (at start-up, those of a shallow first stage already), so a write shows at once."""
        try:
            await events.ready()
        except Exception:
            return  # the same error ends the iteration of `events`, which deals with it
        self.verifying, self.state = True, "verifying"
        await self._catch_up()

    def _split_transcripts(
        self, changes: set[tuple[watchfiles.Change, str]]
    ) -> tuple[set[str], set[tuple[watchfiles.Change, str]]]:
        """The transcripts a batch touched, and its other changes.

        A workflow whose only news is transcript lines is re-read later, with others
        (`_refresh_touched`): at thousands of lines a second, not once per batch.
        """
        if self.transcripts is None:
            return set(), changes
        lines = {path for _, path in changes if is_transcript(path)}
        # A file written into a folder made a moment earlier can beat inotify's watch on
        # that folder: a new agent folder is looked into for its transcript here.
        lines |= {
            str(Path(path) / workflows.RAW_OUTPUT_FILE)
            for kind, path in changes
            if kind == watchfiles.Change.added and self._is_agent_folder(path)
        }
        if not lines:
            return lines, changes
        rest = {(kind, path) for kind, path in changes if not is_transcript(path)}
        self._transcript_touched |= self.ids_of(changes) - self.ids_of(rest)
        return lines, rest

    def _is_agent_folder(self, path: str) -> bool:
        """`<agents>/<adw_id>/<agent>`, by its place in the tree (it may be gone by now)."""
        try:
            parts = Path(path).relative_to(self.agents_dir).parts
        except ValueError:
            return False
        return len(parts) == 2 and workflows.is_valid_adw_id(parts[0]) and "." not in parts[1]

    async def _refresh_touched(self, stop: asyncio.Event, session_end: asyncio.Event) -> None:
        """Re-read workflows whose transcripts grew: their status, cost and result lines."""
        last_growth = time.monotonic()
        while not await sleep_unless(stop, TRANSCRIPT_REFRESH_S) and not session_end.is_set():
            ids, self._transcript_results = self._transcript_results, set()
            if time.monotonic() - last_growth >= TRANSCRIPT_GROWTH_REFRESH_S:
                last_growth = time.monotonic()
                ids |= self._transcript_touched
                self._transcript_touched = set()
            if ids:
                await self.refresh(ids)
            if self.transcripts is not None:
                await self.transcripts.release_idle()

    def note_events(self, events: list[dict[str, object]]) -> None:
        """Agent events (a hub observer): a result line changes its workflow's record."""
        if self._scan_follows:
            return
        for event in events:
            if event.get("kind") == "result" and event.get("source") == "file":
                self._transcript_results.add(str(event.get("adw_id")))

    def _track_running(self, change: Change) -> None:
        for record in change.upsert:
            adw_id = str(record["adw_id"])
            if record.get("status") == "running":
                written = _epoch(record.get("updated_at"))
                if self._running.get(adw_id) != written:
                    self._stall_recheck.pop(adw_id, None)
                self._running[adw_id] = written
            else:
                self._running.pop(adw_id, None)
                self._stall_recheck.pop(adw_id, None)
        for adw_id in change.remove:
            self._running.pop(adw_id, None)
            self._stall_recheck.pop(adw_id, None)

    def _stall_due(self, adw_id: str, written: float) -> float:
        return max(written + self.running_window_s, self._stall_recheck.get(adw_id, 0.0))

    def expired_running(self) -> set[str]:
        """Workflows shown as running whose newest write is older than --stall-after-s."""
        now = time.time()
        return {i for i, written in self._running.items() if self._stall_due(i, written) <= now}

    def seconds_to_next_stall(self) -> float:
        """How long the stall check may sleep: until the soonest workflow crosses the
        threshold, and at most STALL_CHECK_S, since one may start running meanwhile."""
        now = time.time()
        soonest = min(
            (self._stall_due(i, written) for i, written in self._running.items()),
            default=now + STALL_CHECK_S,
        )
        return min(max(soonest - now + STALL_MARGIN_S, STALL_MIN_SLEEP_S), STALL_CHECK_S)

    async def _stall_loop(self, stop: asyncio.Event, session_end: asyncio.Event) -> None:
        """Re-read just the running workflows that crossed the threshold, as they cross it."""
        while not await sleep_unless(stop, self.seconds_to_next_stall()):
            if session_end.is_set():
                return
            if expired := self.expired_running():
                await self.refresh(expired)
                recheck = time.time() + STALL_CHECK_S
                for adw_id in expired & self._running.keys():
                    if self._stall_due(adw_id, self._running[adw_id]) <= recheck:
                        self._stall_recheck[adw_id] = recheck

    async def _reconcile_loop(
        self, stop: asyncio.Event, session_end: asyncio.Event, root_id: tuple[int, int] | None
    ) -> None:
        last = time.monotonic()
        while not await sleep_unless(stop, self.reconcile_s):
            if _inode(self.agents_dir) != root_id:
                session_end.set()  # the dir was deleted or replaced: start a new session
                return
            # Space full passes by RECONCILE_DUTY times their own length, so this safety net
            # stays near 0.1% of a core however large the tree (a 3 s pass: every 50 min).
            # (What time alone changes, running turning stalled, is `_stall_loop`'s work.)
            if time.monotonic() - last < self.last_reconcile_s * RECONCILE_DUTY:
                continue
            fixed = await self.reconcile()
            last = time.monotonic()
            if fixed:
                self.corrections += fixed
                metrics.RECONCILE_CORRECTIONS.inc(fixed)
                log.info("[WATCH] reconciliation corrected %d workflows", fixed)


class RoutesWatcher:
    """Keeps the hub's route collection equal to the app's routes, or a user app's."""

    def __init__(
        self,
        collection: Collection,
        *,
        own_routes: Callable[[], list[Route]],
        target: str | None = None,
        cwd: Path | None = None,
        step_ms: int = 50,
    ) -> None:
        self.collection = collection
        self.own_routes = own_routes
        self.target = target
        self.cwd = cwd or Path.cwd()
        self.step_ms = step_ms
        self.state: WatcherState = "starting"
        self.last_error: str | None = None
        self.watch_dir: Path | None = None

    def prime(self) -> None:
        """The first introspection, before the server starts (blocking on purpose)."""
        self._take(lambda: introspect_target(self.target, cwd=self.cwd) if self.target else None)

    async def load(self) -> None:
        """Introspect again, without blocking the event loop."""
        if self.target is None:
            self._take(lambda: None)
            return
        try:
            found = await introspect_target_async(self.target, cwd=self.cwd)
        except RoutesError as error:
            self._failed(error)
            return
        self._take(lambda: found)

    def _take(self, introspect: Callable[[], TargetRoutes | None]) -> None:
        try:
            found = introspect()
        except RoutesError as error:
            self._failed(error)
            return
        if found is None:
            routes = self.own_routes()
        else:
            routes, self.watch_dir = found.routes, found.watch_dir or self.cwd
        self.last_error = None
        self.collection.replace(r.model_dump(mode="json") for r in routes)

    def _failed(self, error: RoutesError) -> None:
        # Keep showing the last good routes while the user's code is broken.
        self.last_error = str(error)
        log.warning("[ROUTES] %s", error)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            if self.target is None:
                self.state = "watching"
                await stop.wait()
                return
            if self.watch_dir is None:
                await self.load()
            events = FileEvents(
                self.watch_dir or self.cwd,
                debounce_ms=ROUTES_DEBOUNCE_MS,
                step_ms=self.step_ms,
                python_only=True,
            ).start()
            closer = asyncio.create_task(_close_on(events, stop))
            try:
                await events.ready()
                self.state = "watching"
                async for _ in events:
                    log.info("[ROUTES] code changed; introspecting %s again", self.target)
                    await self.load()
            finally:
                closer.cancel()
                events.close()
        finally:
            self.state = "stopped"


def _epoch(iso: object) -> float:
    """An ISO 8601 time as epoch seconds; 0 when missing or unreadable."""
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return 0.0


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _end_if_failed(task: asyncio.Task[None], session_end: asyncio.Event) -> None:
    """A catch-up scan that failed ends its session: the next one starts with another."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("[WATCH] the catch-up scan failed (%r); watching anew", error)
        session_end.set()


async def _close_on(events: WatchEvents, *flags: asyncio.Event) -> None:
    """Close `events` when any of `flags` is set (or when cancelled)."""
    waits = [asyncio.ensure_future(flag.wait()) for flag in flags]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        events.close()
