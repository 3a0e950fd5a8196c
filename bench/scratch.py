"""What the database benchmarks share: a configuration without servers, and a fresh
database to fill (SQLite in a temporary folder, or a new PostgreSQL database dropped
afterwards)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from mailbot.config import (
    CasesConfig,
    Config,
    DatabaseConfig,
    LoggingConfig,
    MailboxConfig,
    OutboxConfig,
    ReceiptsConfig,
    RemindersConfig,
    Secret,
    SmtpConfig,
    StaffConfig,
    TemplatesConfig,
)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def config(url: str, reminders: RemindersConfig | None = None) -> Config:
    """mailbot's configuration on this database; no mail server is contacted."""
    return Config(
        path=Path("bench.toml"),
        mailbox=MailboxConfig("localhost", 143, "plain", "klachten", Secret("x")),
        smtp=SmtpConfig("localhost", 25, "plain", None, None, "klachten@gemeente.example"),
        database=DatabaseConfig(url),
        staff=StaffConfig("coordinator@gemeente.example"),
        cases=CasesConfig(),
        receipts=ReceiptsConfig(),
        outbox=OutboxConfig(),
        templates=TemplatesConfig(),
        logging=LoggingConfig(),
        reminders=reminders or RemindersConfig(),
    )


@contextmanager
def scratch_database(db: str, admin_url: str = PG_ADMIN) -> Iterator[str]:
    """The URL of a new, empty database of this kind ("sqlite" or "postgresql"), gone
    afterwards."""
    if db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    name = f"mailbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
