"""Alerts: workflow transitions turned into webhook posts, each sent once.

rules (pure: a transition in, alerts out) → outbox (the store's alerts tables: one row per
transition, claimed with a lease) → delivery (httpx + tenacity: short timeouts, retries with
backoff and jitter). `service.AlertService` wires them to the hub and keeps the panel's feed.
"""
