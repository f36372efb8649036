"""The store: what must outlive the process (agent events now; runs, phases, alerts later).

store = EventStore.open("~/.livewatch/events.db")   # or a postgresql+psycopg:// URL
store.submit(events, offsets)                        # from the event loop; never blocks
await store.flush(seq)                               # after this, seq survives a SIGKILL
rows = await asyncio.to_thread(store.query, workflow="a1b2c3d4", limit=100)
"""

from livewatch.store.database import database_url, migrate, open_engine
from livewatch.store.events import EventStore, StoreError

__all__ = ["EventStore", "StoreError", "database_url", "migrate", "open_engine"]
