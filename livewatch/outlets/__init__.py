"""Outlets: turn hub changes into a medium (REST, WebSocket sessions, health, metrics)."""
