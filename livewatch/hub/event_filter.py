"""What a reader of the event stream asked to see: the same filters for REST, WS and pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# Query parameter → event field. `workflow` reads better in a URL than `adw_id`.
FIELD_OF = {"workflow": "adw_id", "agent": "agent", "app": "app", "kind": "kind", "tool": "tool"}
MAX_VALUE = 200  # a filter value longer than any real id or tool name is a mistake or abuse


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Exact matches on `workflow`, `agent`, `app`, `kind` and `tool`; `q` is a substring."""

    workflow: str | None = None
    agent: str | None = None
    app: str | None = None
    kind: str | None = None
    tool: str | None = None
    q: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EventFilter:
        given = {}
        for f in fields(cls):
            value = query.get(f.name)
            if value:
                given[f.name] = value[:MAX_VALUE]
        return cls(**given)

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def exact(self) -> dict[str, str]:
        """The exact-match filters, keyed by event field."""
        return {
            FIELD_OF[name]: value for name in FIELD_OF if (value := getattr(self, name)) is not None
        }

    def as_kwargs(self) -> dict[str, str | None]:
        """Every filter by its query name, for the store's query."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def matches(self, event: Mapping[str, Any]) -> bool:
        for name, value in self.exact().items():
            if event.get(name) != value:
                return False
        if self.q:
            needle = self.q.lower()
            haystack = (event.get("summary") or "", event.get("tool") or "", event.get("agent"))
            return any(needle in str(text).lower() for text in haystack if text)
        return True

    def key(self) -> str:
        """A stable name for this filter: clients with the same one share encoded messages."""
        return "&".join(
            f"{f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name)
        )
