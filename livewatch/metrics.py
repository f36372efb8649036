"""Prometheus metrics, in one registry of our own, served as text at `/metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

CONNECTIONS = Gauge(
    "livewatch_connections", "Open WebSocket sessions", ["endpoint"], registry=REGISTRY
)
MESSAGES_SENT = Counter(
    "livewatch_messages_sent", "WebSocket messages sent", ["endpoint"], registry=REGISTRY
)
BYTES_SENT = Counter(
    "livewatch_bytes_sent", "WebSocket payload bytes sent", ["endpoint"], registry=REGISTRY
)
CLIENTS_DROPPED = Counter(
    "livewatch_clients_dropped", "Sessions closed by the server", ["reason"], registry=REGISTRY
)
BROADCAST_LATENCY = Histogram(
    "livewatch_broadcast_latency_seconds",
    "From a change entering the hub to its message leaving for one client",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
WATCHER_EVENTS = Counter(
    "livewatch_watcher_events", "Filesystem events seen under the agents dir", registry=REGISTRY
)
RECONCILE_CORRECTIONS = Counter(
    "livewatch_reconcile_corrections",
    "Records a rescan had to fix because events were missed",
    registry=REGISTRY,
)
READ_ERRORS = Counter(
    "livewatch_read_errors", "Workflow reads that gave an error record", registry=REGISTRY
)
