"""systemd integration without dependencies: sd_notify(3) and a health-gated watchdog.

:class:`Notifier` speaks the notification protocol itself: one datagram of newline-separated
``KEY=value`` assignments to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or a
name in the abstract namespace when it starts with ``@``). Without ``$NOTIFY_SOCKET`` (not
started by systemd, or a unit that is not ``Type=notify``) every call does nothing. A
notification that cannot be sent is logged, never raised: systemd's view of the daemon must
not be able to take the daemon down.

:class:`Health` is where the daemon's loops (intake, dispatch, reminders, ...) report in;
:func:`start_watchdog` pings ``WATCHDOG=1`` only while every registered loop has reported
within its allowed time. A loop that hangs or keeps failing thus stops the pings, and
systemd restarts the service after ``WatchdogSec=`` (the unit's ``Restart=on-failure``).

:class:`JournalFormatter` and :func:`stderr_is_journal` give log lines on stderr their
syslog priority in the journal, so that ``journalctl -p warning`` finds mailbot's warnings.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "STATUS_MAX_CHARS",
    "Health",
    "JournalFormatter",
    "Notifier",
    "start_watchdog",
    "stderr_is_journal",
    "syslog_priority",
]

log = logging.getLogger(__name__)

STATUS_MAX_CHARS: Final = 200  # `systemctl status` shows STATUS= on one line
SEND_TIMEOUT: Final = 5.0  # seconds; a datagram to systemd never blocks the daemon longer
DEFAULT_STALE_AFTER: Final = 600.0  # max age of a loop that reports in without register()


def _one_line(text: str) -> str:
    """STATUS= text: control characters (newlines) become spaces, runs of spaces one,
    at most STATUS_MAX_CHARS characters."""
    cleaned = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > STATUS_MAX_CHARS:
        cleaned = cleaned[: STATUS_MAX_CHARS - 1].rstrip() + "…"
    return cleaned


def _socket_address(value: str) -> bytes | None:
    """The address to send to, from $NOTIFY_SOCKET; None when it is not one we speak."""
    if value.startswith("@"):
        # Abstract namespace: a leading NUL byte instead of the '@'; not NUL-terminated.
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    return None  # e.g. "vsock:CID:PORT" (systemd 254+, for VMs): not supported here


class Notifier:
    """Sends sd_notify(3) messages to systemd; a no-op when $NOTIFY_SOCKET is unset.

    ``environ`` defaults to ``os.environ`` and is read once, here.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env: Mapping[str, str] = os.environ if environ is None else environ
        self._socket_name = env.get("NOTIFY_SOCKET", "")
        self._address = _socket_address(self._socket_name) if self._socket_name else None
        if self._socket_name and self._address is None:
            log.warning(
                "systemd: NOTIFY_SOCKET=%r is not a path or an abstract socket name; "
                "not notifying systemd",
                self._socket_name,
            )
        self._watchdog_usec, self._watchdog_pid = _watchdog_settings(env)
        # Reentrant: stopping() is called from a SIGTERM handler, which Python runs in the
        # main thread, possibly while that thread is inside ready() or status().
        self._lock = threading.RLock()
        self._last_status = ""
        self._override: str | None = None
        self._send_failed = False

    @property
    def enabled(self) -> bool:
        """True when there is a systemd to notify."""
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two WATCHDOG=1 pings: half of $WATCHDOG_USEC, as
        sd_watchdog_enabled(3) recommends; None when the watchdog is off or $WATCHDOG_PID
        names another process (the variables were inherited from our parent)."""
        if self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and self._watchdog_pid != os.getpid():
            return None
        return self._watchdog_usec / 2 / 1_000_000

    @property
    def last_status(self) -> str:
        """The last STATUS= the daemon itself set (ready() or status()), as sent."""
        return self._last_status

    def ready(self, status: str) -> None:
        """Start-up is complete: READY=1 with a STATUS= line."""
        line = _one_line(status)
        with self._lock:
            self._last_status = line
            self._send(f"READY=1\nSTATUS={line}")

    def status(self, text: str) -> None:
        """A one-line status for `systemctl status` (newlines removed, length capped).

        While the watchdog pinger shows an unhealthy reason, the text is only remembered
        (and shown once the daemon is healthy again): the reason stays visible."""
        line = _one_line(text)
        with self._lock:
            self._last_status = line
            if self._override is None:
                self._send(f"STATUS={line}")

    def watchdog(self) -> None:
        """WATCHDOG=1: the daemon is alive and well."""
        self._send("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> None:
        """STOPPING=1: the daemon is shutting down (send it when SIGTERM arrives)."""
        line = _one_line(status)
        with self._lock:
            self._last_status, self._override = line, None
            self._send(f"STOPPING=1\nSTATUS={line}")

    def _status_override(self, text: str | None) -> None:
        """The watchdog pinger's STATUS=, which status() does not overwrite; None ends it
        and shows the daemon's own last status again."""
        with self._lock:
            self._override = None if text is None else _one_line(text)
            line = self._override if self._override is not None else self._last_status
            self._send(f"STATUS={line or 'running'}")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        data = message.encode("utf-8", "replace")  # systemd ignores STATUS= that is not UTF-8
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(SEND_TIMEOUT)
                sock.sendto(data, self._address)
        except OSError as exc:
            # Once at WARNING, then at DEBUG: a socket that is gone would otherwise put a
            # line per watchdog ping in the journal. (A race on the flag costs one line.)
            first, self._send_failed = not self._send_failed, True
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "systemd: cannot notify %s: %s",
                self._socket_name,
                exc,
            )
        else:
            if self._send_failed:
                self._send_failed = False
                log.info("systemd: notifying %s works again", self._socket_name)


def _watchdog_settings(env: Mapping[str, str]) -> tuple[int | None, int | None]:
    """(WATCHDOG_USEC, WATCHDOG_PID) as numbers; (None, None) when unset or unusable."""
    usec_text, pid_text = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec_text:
        return None, None
    try:
        usec = int(usec_text)
        pid = int(pid_text) if pid_text else None
    except ValueError:
        log.warning(
            "systemd: ignoring WATCHDOG_USEC=%r WATCHDOG_PID=%r: not numbers", usec_text, pid_text
        )
        return None, None
    return (usec, pid) if usec > 0 else (None, None)


@dataclass
class _Loop:
    max_age: float
    last_beat: float
    last_error: str = ""


class Health:
    """Thread-safe record of when each loop last completed a pass.

    ``register(loop, max_age)`` puts a loop under watch, from now on: it is stale when it has
    not called ``beat`` for more than ``max_age`` seconds (give it about three of its
    intervals plus a margin for a long pass). ``failed`` records an error without counting
    as a beat: a loop that keeps failing goes stale like one that hangs, and the reason
    then names the last error. A loop that beats without being registered is watched with
    ``stale_after``.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        stale_after: float = DEFAULT_STALE_AFTER,
    ) -> None:
        if stale_after <= 0:
            raise ValueError(f"stale_after must be more than 0, not {stale_after!r}")
        self._clock = clock
        self._stale_after = stale_after
        self._loops: dict[str, _Loop] = {}
        self._lock = threading.Lock()

    def register(self, loop: str, max_age: float) -> None:
        """Watch ``loop``: it must beat within ``max_age`` seconds from now, and from then on
        within ``max_age`` of its previous beat. Registering again changes max_age and
        restarts the count."""
        if max_age <= 0:
            raise ValueError(f"max_age of {loop} must be more than 0, not {max_age!r}")
        with self._lock:
            self._loops[loop] = _Loop(max_age=max_age, last_beat=self._clock())

    def beat(self, loop: str) -> None:
        """``loop`` completed a pass (or is demonstrably alive)."""
        with self._lock:
            now = self._clock()
            state = self._loops.get(loop)
            if state is None:
                self._loops[loop] = _Loop(max_age=self._stale_after, last_beat=now)
            else:
                state.last_beat, state.last_error = now, ""

    def failed(self, loop: str, error: str) -> None:
        """``loop``'s pass failed with ``error``, shown in the unhealthy reason. Only its
        first line is kept: e.g. SQLAlchemy puts the SQL and its parameters (personal data)
        on the next lines, and STATUS= is visible to every local user."""
        first = next((line for line in error.splitlines() if line.strip()), "")
        with self._lock:
            now = self._clock()
            state = self._loops.get(loop)
            if state is None:
                state = self._loops[loop] = _Loop(max_age=self._stale_after, last_beat=now)
            state.last_error = _one_line(first or "(no message)")

    def healthy(self) -> tuple[bool, str]:
        """(True, "") when every loop beat in time; otherwise False and why, e.g.
        ``intake: no successful pass for 700s (allowed 690s); last error: ...``."""
        with self._lock:
            now = self._clock()
            reasons = []
            for name, state in self._loops.items():
                age = now - state.last_beat
                if age > state.max_age:
                    allowed = state.max_age
                    reason = f"{name}: no successful pass for {age:.0f}s (allowed {allowed:.0f}s)"
                    if state.last_error:
                        reason += f"; last error: {state.last_error}"
                    reasons.append(reason)
        if reasons:
            return False, "; ".join(reasons)
        return True, ""


def start_watchdog(
    notifier: Notifier, health: Health, stop: threading.Event
) -> threading.Thread | None:
    """Start a daemon thread that sends WATCHDOG=1 every ``notifier.watchdog_interval``
    seconds while ``health`` is healthy, until ``stop`` is set.

    When a loop goes stale the pings stop (so systemd's watchdog fires and the unit's
    Restart= policy restarts the daemon) and STATUS= says why; this is logged once. Should
    the loop recover before systemd acts, the pings resume and the daemon's own last status
    is restored. Returns None (and starts nothing) when systemd asked for no watchdog.
    """
    interval = notifier.watchdog_interval
    if not notifier.enabled or interval is None:
        log.debug("systemd: no watchdog requested")
        return None

    def _run() -> None:
        unhealthy = False
        while True:
            # Should healthy() ever raise, this thread ends (threading.excepthook logs it)
            # and the pings stop: systemd restarts us, the safe side.
            ok, reason = health.healthy()
            if ok:
                if unhealthy:
                    unhealthy = False
                    log.info("watchdog: healthy again; resuming watchdog pings")
                    notifier._status_override(None)
                notifier.watchdog()
            elif not unhealthy:
                unhealthy = True
                log.error(
                    "watchdog: unhealthy, no more watchdog pings (systemd will restart "
                    "mailbot): %s",
                    reason,
                )
                notifier._status_override(f"unhealthy: {reason}")
            if stop.wait(interval):
                return

    thread = threading.Thread(target=_run, name="systemd-watchdog", daemon=True)
    thread.start()
    log.info("systemd: watchdog pings every %.1fs while all loops are healthy", interval)
    return thread


# -- logging to the journal ----------------------------------------------------------------


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level: 2 crit, 3 err, 4 warning, 6 info, 7 debug."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class JournalFormatter(logging.Formatter):
    """Puts ``<N>`` (sd-daemon(3)) before every line of a record, N its syslog priority.

    journald reads the prefix on a service's stdout/stderr (SyslogLevelPrefix=yes, the
    default) and stores the line with that priority instead of "info": then
    ``journalctl -u mailbot -p warning`` shows warnings and errors, tracebacks included
    (every line of one is prefixed, since the journal stores each line as an entry).
    """

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def stderr_is_journal(environ: Mapping[str, str] | None = None, fd: int | None = None) -> bool:
    """True when stderr is the journal's stream: $JOURNAL_STREAM ("device:inode", set by
    systemd) names the file on ``fd`` (default: stderr). A child whose stderr was
    redirected elsewhere inherits the variable, hence the comparison."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    device, sep, inode = env.get("JOURNAL_STREAM", "").partition(":")
    if not sep:
        return False
    try:
        stat = os.fstat(sys.stderr.fileno() if fd is None else fd)
        return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
    except (AttributeError, OSError, ValueError):  # no usable stderr, or garbage
        return False
