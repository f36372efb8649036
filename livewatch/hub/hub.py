"""Everything the dashboard shows live, in one place: workflows, routes and agent events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from livewatch.hub.collection import Collection, Record
from livewatch.hub.event_log import EventLog
from livewatch.hub.records import route_key, workflow_key


@dataclass
class Hub:
    """Both collections and the event log, built from one settings object."""

    workflows: Collection
    routes: Collection
    events: EventLog = field(default_factory=EventLog)

    @classmethod
    def create(cls, history_size: int = 1000, queue_size: int = 256) -> Hub:
        def make(name: str, key: Callable[[Record], str]) -> Collection:
            return Collection(name, key, history_size=history_size, queue_size=queue_size)

        return cls(workflows=make("workflows", workflow_key), routes=make("routes", route_key))

    def collection(self, name: str) -> Collection:
        return {"workflows": self.workflows, "routes": self.routes}[name]

    def close(self) -> None:
        self.workflows.close()
        self.routes.close()
        self.events.close()
