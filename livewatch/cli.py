"""`livewatch serve`: every flag comes from a `Settings` field, with its default and help."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from livewatch.settings import Settings

COMMANDS = ("serve", "demo", "tail", "agent")
EVENT_FILTERS = ("workflow", "agent", "app", "kind", "tool")


def _flag_type(annotation: Any) -> Any:
    for kind in (int, float, Path):
        if annotation is kind or kind in getattr(annotation, "__args__", ()):
            return kind
    return str


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per settings field; unset flags fall back to env vars, then defaults."""
    for name, field in Settings.model_fields.items():
        env = f"LIVEWATCH_{name.upper()}"
        default = field.get_default(call_default_factory=True)
        repeatable = getattr(field.annotation, "__origin__", None) is list
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            action="append" if repeatable else "store",
            type=str if repeatable else _flag_type(field.annotation),
            default=None,
            metavar=name.split("_")[0].upper(),
            help=f"{field.description} (env {env}; default {default})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livewatch",
        description="A live dashboard of AI-agent workflows and API routes.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the dashboard, /api and /ws (the default)")
    add_settings_flags(serve)
    demo = commands.add_parser(
        "demo", help="serve a temp copy of the sample agents while a simulator moves them"
    )
    add_settings_flags(demo)
    agent = commands.add_parser(
        "agent", help="publish this host's agents dir to --broker (Redis); serves nothing"
    )
    add_settings_flags(agent)
    tail = commands.add_parser("tail", help="print a server's changes as they happen")
    tail.add_argument("url", nargs="?", default="http://127.0.0.1:8000", help="the server")
    tail.add_argument("--routes", action="store_true", help="follow routes, not workflows")
    tail.add_argument(
        "--events", action="store_true", help="follow agent events (tool calls, messages, ...)"
    )
    for name in EVENT_FILTERS:
        tail.add_argument(f"--{name}", default=None, help=f"with --events: only this {name}")
    tail.add_argument("--token", default=None, help="access token, when the server needs one")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    given = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    return Settings(**given)


def _serve(
    settings: Settings, *, demo: bool = False, on_exit: Callable[[], None] | None = None
) -> None:
    from livewatch.sources import prefetch

    # Before the server's heavy imports, so the scan runs while they load.
    first_scan = prefetch.start(settings)
    from livewatch import server

    server.run(settings, demo=demo, first_scan=first_scan, on_exit=on_exit)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A bare `livewatch` (or one that starts with flags) means `livewatch serve`.
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "serve")
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        _serve(settings_from(args))
    elif args.command == "demo":
        from livewatch.demo.simulator import sample_copy

        with sample_copy() as (agents_dir, remove):
            demo = settings_from(args).model_copy(update={"agents_dir": agents_dir})
            _serve(demo, demo=True, on_exit=remove)
    elif args.command == "agent":
        from livewatch.broker import agent as broker_agent

        settings = settings_from(args)
        if not settings.broker:
            raise SystemExit("livewatch agent: --broker redis://... (LIVEWATCH_BROKER) is required")
        broker_agent.run(settings)
    elif args.command == "tail":
        import asyncio

        from livewatch.tail import tail, tail_events

        if args.events:
            filters = {name: getattr(args, name) for name in EVENT_FILTERS}
            follow = tail_events(args.url, args.token, **filters)
        else:
            follow = tail(args.url, "routes" if args.routes else "workflows", args.token)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(follow)
