"""`livewatch tail`: print a server's changes in the terminal as they happen."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from livewatch.client import ClientState, EventStream, Kind, LiveClient, Record, Update


def describe(kind: Kind, record: Record) -> str:
    if kind == "routes":
        return f"{record['method']:<6} {record['path']}  {record['handler']}"
    cost = "" if record.get("cost_usd") is None else f" ${record['cost_usd']:.2f}"
    issue = "" if record.get("issue_number") is None else f" #{record['issue_number']}"
    error = f"  ({record['error']})" if record.get("error") else ""
    return f"{record['adw_id']}{issue} {record['phase']} {record['status']}{cost}{error}"


class Printer:
    """Turns client updates into one line per change."""

    def __init__(self, kind: Kind, out: TextIO) -> None:
        self.kind = kind
        self.out = out
        self.state: ClientState | None = None

    def __call__(self, update: Update) -> None:
        now = datetime.now().strftime("%H:%M:%S")
        if update.state is not self.state:
            self.state = update.state
            self.out.write(f"{now} [{update.state}]\n")
        if update.kind in ("snapshot", "poll") and update.upsert:
            self.out.write(f"{now} {update.kind}: {len(update.upsert)} {self.kind}\n")
        if update.kind == "delta":
            for record in update.upsert:
                self.out.write(f"{now} + {describe(self.kind, record)}\n")
        for key in update.remove:
            self.out.write(f"{now} - {key}\n")
        self.out.flush()


async def tail(url: str, kind: Kind, token: str | None = None, out: TextIO = sys.stdout) -> None:
    async with LiveClient(url, kind, token=token, on_update=Printer(kind, out)) as client:
        await client.wait_closed()


def describe_event(event: Record) -> str:
    """One line per event: time, workflow (or app), agent, kind, tool, summary."""
    when = datetime.fromtimestamp((event.get("ts") or 0) / 1000).strftime("%H:%M:%S")
    where = event.get("adw_id") or event.get("app") or "-"
    tool = f" {event['tool']}" if event.get("tool") else ""
    flag = " !" if event.get("is_error") else ""
    what = f"{event.get('agent')} {event.get('kind')}{tool}{flag}"
    return f"{when} {where} {what}  {event.get('summary', '')}"


async def tail_events(
    url: str, token: str | None = None, out: TextIO = sys.stdout, **filters: str | None
) -> None:
    """Print every agent event as it arrives (the newest 300 first), until interrupted."""
    async for event in EventStream(url, token=token, **filters):
        out.write(describe_event(event) + "\n")
        out.flush()
