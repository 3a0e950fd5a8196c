"""The database unreachable when `mailbot run` starts (issue 11.4): mailbot waits and retries
with backoff, logs it once, and carries on when the database appears. The real daemon in a
child process, on Dovecot, the SMTP sink and SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness import LOCALHOST, Mailbox, SmtpSink, free_port
from support.app import write_config
from support.daemon import daemon
from support.mails import complaint
from support.waiting import wait_until

CITIZEN = "an@burger.example"
UNAVAILABLE_FOR = 3.0  # seconds


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def proxy_to_postgresql(port: int) -> Iterator[None]:
    """A TCP proxy from `port` to PostgreSQL on 127.0.0.1:5432, listening from now on."""
    server = socket.create_server((LOCALHOST, port))
    server.settimeout(0.2)
    stop = threading.Event()
    opened: list[socket.socket] = []
    pipes: list[threading.Thread] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", 5432))
            opened.extend((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                pipes.append(threading.Thread(target=_pipe, args=(a, b), daemon=True))
                pipes[-1].start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        server.close()
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for pipe in pipes:
            pipe.join(timeout=10)
        for sock in opened:
            sock.close()


def _waits_then_carries_on(
    proc: subprocess.Popen[bytes], log: Path, smtp: SmtpSink, expected: str
) -> list[str]:
    wait_until(lambda: "database" in log.read_text(), 30, "the database warning", log)
    time.sleep(UNAVAILABLE_FOR)  # still waiting, not exited
    assert proc.poll() is None, log.read_text()
    warnings = [line for line in log.read_text().splitlines() if "WARNING" in line]
    assert len(warnings) == 1, warnings
    assert expected in warnings[0] and "mailbot waits for it" in warnings[0]
    assert "Traceback" not in log.read_text()
    assert smtp.messages == []
    return warnings


def test_sqlite_in_a_folder_that_appears_later(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink
) -> None:
    state = tmp_path / "state"
    config = write_config(tmp_path, mailbox, smtp_server, f"sqlite:///{state / 'm.sqlite3'}")
    mailbox.append("INBOX", complaint("An Peeters", CITIZEN, "Vuilnisophaling"))
    log = tmp_path / "daemon.log"
    with daemon(config, log, stop_within=60) as proc:
        _waits_then_carries_on(proc, log, smtp_server, f"the folder {state} does not exist")
        state.mkdir()  # e.g. a mount that comes up late
        wait_until(
            lambda: any(CITIZEN in m.rcpt_tos for m in smtp_server.messages), 90, "receipt", log
        )
        assert "database: back after" in log.read_text()
    assert proc.returncode == 0, log.read_text()


def test_postgresql_that_comes_up_later(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, pg_url: str
) -> None:
    port = free_port()
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    config = write_config(tmp_path, mailbox, smtp_server, url)
    mailbox.append("INBOX", complaint("An Peeters", CITIZEN, "Vuilnisophaling"))
    log = tmp_path / "daemon.log"
    with daemon(config, log, stop_within=60) as proc:
        _waits_then_carries_on(proc, log, smtp_server, f"127.0.0.1:{port}")
        with proxy_to_postgresql(port):
            wait_until(
                lambda: any(CITIZEN in m.rcpt_tos for m in smtp_server.messages),
                90,
                "receipt",
                log,
            )
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()
