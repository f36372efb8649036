"""Alembic's entry point for the store's migrations.

`livewatch.store.database.migrate` runs these at open time, inside its own transaction. To
write a new revision, copy the newest file in `versions/` (revision ids are "0003", ...), or
generate one against a scratch database:

    from alembic import command
    from livewatch.store.database import alembic_config
    command.revision(alembic_config(url="sqlite:////tmp/x.db"), "add runs", rev_id="0003")
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from livewatch.store.database import open_engine
from livewatch.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:  # from `migrate`: it owns the transaction
        _run(connection)
        return
    engine = open_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


main()
