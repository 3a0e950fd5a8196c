"""One active instance per database.

PostgreSQL: a session-level advisory lock held on a dedicated connection
(pg_try_advisory_lock). When the active process dies, PostgreSQL closes its connection
and releases the lock, and a standby that tries again takes over. SQLite: an exclusive
flock on a file next to the database, released by the kernel when the process dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

# pg_advisory_lock takes a bigint; this one is "mailbot" in ASCII, so it is recognisable
# in pg_locks (objid) and unlikely to collide with another application's lock.
ADVISORY_KEY = 0x6D61696C626F74


class Leadership:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._file: IO[bytes] | None = None
        self.held = False

    def _lock_path(self) -> Path | None:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return None
        return Path(database).with_name(Path(database).name + ".lock")

    def acquire(self) -> bool:
        """Try once; True when this process is (still) the active one."""
        if self.held:
            return self.verify()
        if self.engine.dialect.name == "postgresql":
            try:
                conn = self.engine.connect()
                got = bool(
                    conn.execute(
                        text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
                    ).scalar_one()
                )
                conn.commit()
            except SQLAlchemyError as exc:
                log.warning("leadership: cannot reach the database: %s", exc)
                return False
            if not got:
                conn.close()
                return False
            self._conn = conn
        else:
            path = self._lock_path()
            if path is not None:
                # Owner only, like the database it guards (it names this process).
                handle = os.fdopen(
                    os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
                )
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    handle.close()
                    return False
                handle.truncate(0)
                handle.write(f"{os.getpid()}\n".encode())
                handle.flush()
                self._file = handle
        self.held = True
        return True

    def verify(self) -> bool:
        """Whether the lock is still ours: on PostgreSQL the connection must be alive (if
        it dropped, the server released the lock and another instance may hold it)."""
        if not self.held:
            return False
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1")).scalar_one()
                self._conn.commit()
            except SQLAlchemyError as exc:
                log.error("leadership: lost the database connection that held the lock: %s", exc)
                self._drop()
                return False
        return True

    def _drop(self) -> None:
        self.held = False
        if self._conn is not None:
            try:
                self._conn.close()
            except SQLAlchemyError:
                log.debug("leadership: closing a broken connection failed", exc_info=True)
            self._conn = None
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None

    def release(self) -> None:
        if self._conn is not None and self.held:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                self._conn.commit()
            except SQLAlchemyError:
                log.debug("leadership: unlock failed; closing releases it", exc_info=True)
        self._drop()
