"""livewatch: a real-time dashboard of AI-agent workflows and API routes, in Python alone."""

__version__ = "0.1.0"
