"""Alembic environment: mailbot passes its engine in `config.attributes['engine']`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mailbot.persistence.tables import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line, for developers
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///mailbot.sqlite3")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite needs ALTER TABLE emulated by copy-and-move
        compare_type=True,
    )
    context.run_migrations()
