"""Copying SQLite's write-ahead log back into the database file, on a thread of its own.

In WAL mode a commit appends the transaction's pages to the `-wal` file (and syncs it:
`synchronous = FULL`, `db.py`); a checkpoint later copies them into the database file.
SQLite's default runs that checkpoint inside the commit that takes the log past 1,000
pages, on the committing thread; during a backlog every batch's commit does (a batch holds
megabytes of mail and attachments), and the copying was the largest single share of the
intake's CPU. The checkpointer does it beside the intake instead, with a connection of its
own: woken after each commit of the app's sessions (and every few seconds anyway), it runs
a PASSIVE checkpoint, which never blocks a writer or a reader (sqlite.org/wal.html,
"Application-Initiated Checkpoints"). sqlite3 lets go of the GIL while SQLite works, so
the copying runs on the second core.

A commit is durable before and after this change: the WAL is synced at every commit, and
a checkpoint only moves pages that are already safe. The committing connections keep an
automatic checkpoint as a safety net, at `SAFETY_NET_PAGES` instead of 1,000: should the
checkpointer fall behind or fail, the log still stops growing there.
"""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import threading
import time
import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from mailbot.persistence.db import sqlite_path

log = logging.getLogger(__name__)

SAFETY_NET_PAGES = 10_000  # 40 MB of log with SQLite's 4 KiB pages
IDLE_SECONDS = 5.0  # a checkpoint at least this often: commits outside the app's sessions


class WalCheckpointer:
    """Runs PASSIVE checkpoints of one SQLite database on a daemon thread until `close`."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.cpu_seconds = 0.0  # the thread's own CPU (the benchmark reports it apart)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failing = False
        self._asked = 0  # settle() calls so far
        self._done = 0  # the settle() calls the last finished checkpoint began after
        self._settled = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="mailbot-checkpoint", daemon=True)

    @classmethod
    def attach(cls, engine: Engine, sessions: sessionmaker[Session]) -> WalCheckpointer | None:
        """Start one for the engine's SQLite file (None for PostgreSQL or memory): its
        connections leave checkpoints to it, and each commit of `sessions` wakes it.
        Call before the engine's first connection."""
        path = sqlite_path(str(engine.url))
        if path is None:
            return None
        checkpointer = cls(str(path))

        @event.listens_for(engine, "connect")
        def _safety_net(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES}")

        event.listen(sessions, "after_commit", lambda _session: checkpointer.wake())
        checkpointer.start()
        return checkpointer

    def start(self) -> None:
        self._thread.start()
        _RUNNING.add(self)

    def wake(self) -> None:
        """A checkpoint soon (after each commit: cheap, never waits)."""
        self._wake.set()

    def settle(self, timeout: float) -> bool:
        """Wait until a checkpoint that began after this call has finished (or failed);
        False if none did within `timeout` seconds."""
        with self._settled:
            self._asked += 1
            target = self._asked
            self._wake.set()
            return self._settled.wait_for(lambda: self._done >= target, timeout)

    def close(self) -> None:
        """Stop the thread after one last checkpoint."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait(IDLE_SECONDS)
                self._wake.clear()
                asked = self._asked
                conn = self._checkpoint(conn)
                with self._settled:
                    self._done = asked
                    self._settled.notify_all()
                if self._stop.is_set():
                    return
        finally:
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """One PASSIVE checkpoint; a failure is logged once (until one succeeds again)
        and the connection opened anew next time."""
        if conn is None and not (
            os.path.isfile(self.database) and os.path.exists(f"{self.database}-wal")
        ):
            return None  # no log to copy (and never create a database here)
        started = time.thread_time()
        try:
            if conn is None:
                conn = sqlite3.connect(self.database, timeout=30, isolation_level=None)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            if not self._failing:
                log.warning(
                    "database: cannot checkpoint the log of %s (commits copy it "
                    "themselves past %s pages): %s",
                    self.database,
                    SAFETY_NET_PAGES,
                    exc,
                )
            self._failing = True
            if conn is not None:
                conn.close()
            return None
        else:
            if self._failing:
                log.info("database: checkpoints of %s work again", self.database)
            self._failing = False
            return conn
        finally:
            self.cpu_seconds += time.thread_time() - started


# A command that exits without closing its App: the last checkpoint still runs and the
# connection closes, so that the last one to close removes the log, as before.
_RUNNING: weakref.WeakSet[WalCheckpointer] = weakref.WeakSet()


@atexit.register
def _close_running() -> None:
    for checkpointer in list(_RUNNING):
        checkpointer.close()
