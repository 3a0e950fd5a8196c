"""PostgreSQL on 127.0.0.1:5432: a fresh database per test, dropped afterwards."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import psycopg
from psycopg import sql

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
PG_URL_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/"


class PostgresUnavailable(RuntimeError):
    pass


@contextlib.contextmanager
def fresh_pg_database(admin_dsn: str = PG_ADMIN_DSN) -> Iterator[str]:
    """CREATE a database with a random name; yield its SQLAlchemy URL; DROP it after."""
    name = f"mailbot_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(
            f"PostgreSQL is not reachable ({admin_dsn}): {exc}. The integration tests need "
            "it: start it with `pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start` or run scripts/test, which does that."
        ) from exc
    try:
        with admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            try:
                yield PG_URL_BASE + name
            finally:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    finally:
        admin.close()


def pg_database_exists(name: str, admin_dsn: str = PG_ADMIN_DSN) -> bool:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None
