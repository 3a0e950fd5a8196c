"""The one place where the command line reaches the application: the composition root
(`App`) and the database engine are imported here, inside functions, so that `--help`,
`--version` and the light commands never load SQLAlchemy, Alembic or the daemon."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailbot.domain.ports import Clock, system_clock

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from mailbot.app import App as App
    from mailbot.config import Config
    from mailbot.services.reminders import ReminderService

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# `mail_secrets` of a command that reads the secrets only when it is not a dry run.
UNLESS_DRY_RUN = "unless --dry-run"


@dataclass(frozen=True)
class Context:
    """What every command that works on an installation gets: its config and clock."""

    config: Config
    clock: Clock


def fake_clock(environ: Mapping[str, str]) -> Clock:
    """MAILBOT_FAKE_NOW=2026-12-24T08:30:00+01:00 makes mailbot live at that moment (time
    still runs from there): for staging and tests of the statutory clock."""
    value = environ.get("MAILBOT_FAKE_NOW", "")
    if not value:
        return system_clock
    fake = datetime.fromisoformat(value)
    if fake.tzinfo is None:
        raise ValueError(f"MAILBOT_FAKE_NOW={value!r} needs a UTC offset, e.g. +01:00")
    offset = fake - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def open_app(ctx: Context) -> App:
    """The whole application, wired once (engine, adapters, services)."""
    from mailbot.app import App

    return App(ctx.config, ctx.clock)


@dataclass(frozen=True)
class Database:
    """The database alone, opened read-only (see `open_database`)."""

    engine: Engine
    sessions: sessionmaker[Session]


def open_database(ctx: Context) -> Database:
    """For the commands that only read: never creates the database file (a missing one is
    a one-line error), works for a user with read access only, and checks the schema."""
    from mailbot.persistence.db import make_engine, make_sessionmaker, require_current_schema

    engine = make_engine(ctx.config.database.url, read_only=True)
    require_current_schema(engine)
    return Database(engine, make_sessionmaker(engine))


def reminder_service(ctx: Context, database: Database) -> ReminderService:
    """The reminders planner on a read-only database, for `reminders --dry-run`."""
    from mailbot.domain.model import Address
    from mailbot.outbound.render import TemplateRenderer
    from mailbot.services.outbox import Outbox
    from mailbot.services.reminders import ReminderService

    cfg = ctx.config
    renderer = TemplateRenderer(cfg.cases.timezone, cfg.templates.folder)
    sender = Address(cfg.smtp.from_address, cfg.smtp.from_name)
    outbox = Outbox(renderer, sender, cfg.message_id_domain)
    return ReminderService(cfg, database.sessions, outbox, ctx.clock)


def say_error(message: str) -> None:
    print(f"mailbot: {message}", file=sys.stderr)
