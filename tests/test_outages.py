"""Server outages under the running daemon (issue 10): the IMAP server, the SMTP server and
PostgreSQL go away for a while and come back; the daemon stays up, and every mail that
arrived meanwhile becomes a case with one receipt, nothing lost and nothing twice.

The servers are shared by the whole test session (PostgreSQL by every test on the machine),
so the outage is a TCP proxy in between that the test cuts (open connections break, new
ones are refused) and restores on the same port. The issue's outages lasted 20 s (Dovecot),
60 s (SMTP) and 30 s (PostgreSQL); here OUTAGE seconds each, which already takes the daemon
through several failed reconnects and its backoff. 451s and a 550 are in
test_robustness.py (test_temporary_smtp_failure_is_retried_and_permanent_one_reported).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import Mailbox, SmtpSink, TcpProxy
from support.app import COORDINATOR, write_config
from support.mails import by_recipient, complaint
from support.waiting import wait_until

OUTAGE = 4.0  # seconds


@contextmanager
def proxy_to(port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@contextmanager
def daemon(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`mailbot run` in a child process; stopped with SIGTERM, which must end it cleanly."""
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            yield process
            assert process.poll() is None, f"the daemon died:\n{log.read_text()[-3000:]}"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def receipts(smtp: SmtpSink, address: str) -> list[str]:
    return [m.subject for m in by_recipient(smtp, address) if "Ontvangstmelding" in m.subject]


def receipt_arrives(smtp: SmtpSink, address: str, log: Path, timeout: float = 60) -> None:
    wait_until(lambda: receipts(smtp, address), timeout, f"the receipt to {address}", log)


def recorded_sent(log: Path, count: int) -> None:
    """Wait until the daemon has recorded `count` mails as sent. Before that, an outage
    that swallows the server's 250 on its way back sends the mail again: SMTP's own
    window (RFC 5321 section 6.1), not what these tests are about."""
    wait_until(lambda: log.read_text().count(" sent\n") >= count, 30, f"{count} sent", log)


def outage(
    proxy: TcpProxy, process: subprocess.Popen[bytes], log: Path, during: Callable[[], None]
) -> None:
    """The server is gone for OUTAGE seconds, in which during() happens (mail arrives);
    the daemon must live through it."""
    proxy.cut()
    started = time.monotonic()
    during()
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - started)))  # a stretch of time
    assert process.poll() is None, f"the daemon died in the outage:\n{log.read_text()[-3000:]}"
    proxy.restore()


def arrives(mailbox: Mailbox, who: str) -> None:
    mailbox.append("INBOX", complaint(who.title(), f"{who}@burger.example", f"Klacht van {who}"))


def everything_filed_once(mailbox: Mailbox, smtp: SmtpSink, addresses: list[str]) -> None:
    assert mailbox.uids("INBOX") == []
    assert len(mailbox.uids("Verwerkt")) == len(addresses)
    for address in addresses:
        assert len(receipts(smtp, address)) == 1, address
    notices = [m for m in by_recipient(smtp, COORDINATOR) if m.subject.startswith("Nieuwe")]
    assert len(notices) == len(addresses), [m.subject for m in notices]


def before_during_after(
    proxy: TcpProxy, config: Path, log: Path, mailbox: Mailbox, smtp: SmtpSink
) -> None:
    """A complaint before the outage, one during it, one after: each filed once."""
    arrives(mailbox, "an")
    with daemon(config, log) as process:
        receipt_arrives(smtp, "an@burger.example", log)
        recorded_sent(log, 2)  # the receipt and the notice
        outage(proxy, process, log, lambda: arrives(mailbox, "bo"))
        receipt_arrives(smtp, "bo@burger.example", log)
        arrives(mailbox, "cas")
        receipt_arrives(smtp, "cas@burger.example", log)
        # The notice goes out a moment after the receipt: stopping the daemon in between
        # leaves it queued for the next start (not lost), and this check failed 3 runs in
        # 12 on the same code.
        wait_until(lambda: len(smtp.messages) >= 6, 60, "the notices too", log)
    everything_filed_once(
        mailbox, smtp, ["an@burger.example", "bo@burger.example", "cas@burger.example"]
    )


def test_the_imap_server_down_for_a_while_loses_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    log = tmp_path / "daemon.log"
    with proxy_to(mailbox.port) as imap:
        config = write_config(
            tmp_path, mailbox, smtp_server, sqlite_url, mailbox={"port": imap.port}
        )
        before_during_after(imap, config, log, mailbox, smtp_server)
    assert "intake: IMAP" in log.read_text() and "retrying with backoff" in log.read_text()


def test_the_smtp_server_down_for_a_while_loses_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    log = tmp_path / "daemon.log"
    with proxy_to(smtp_server.port) as smtp:
        config = write_config(tmp_path, mailbox, smtp_server, sqlite_url, smtp={"port": smtp.port})
        arrives(mailbox, "an")
        with daemon(config, log) as process:
            receipt_arrives(smtp_server, "an@burger.example", log)
            recorded_sent(log, 2)  # the receipt and the notice

            def two_complaints_filed_without_smtp() -> None:
                arrives(mailbox, "bo")
                arrives(mailbox, "cas")
                # intake goes on without the SMTP server: the mail is filed, its mail waits
                wait_until(lambda: len(mailbox.uids("Verwerkt")) == 3, 30, "filing", log)
                assert receipts(smtp_server, "bo@burger.example") == []

            outage(smtp, process, log, two_complaints_filed_without_smtp)
            for who in ("bo", "cas"):
                receipt_arrives(smtp_server, f"{who}@burger.example", log)
            wait_until(lambda: len(smtp_server.messages) >= 6, 60, "the notices too", log)
    everything_filed_once(
        mailbox, smtp_server, ["an@burger.example", "bo@burger.example", "cas@burger.example"]
    )
    assert "failed for now (ConnectionRefusedError" in log.read_text()  # it was down


def test_postgresql_down_for_a_while_loses_nothing(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, pg_url: str
) -> None:
    log = tmp_path / "daemon.log"
    with proxy_to(5432) as pg:
        url = pg_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{pg.port}/")
        assert url != pg_url
        config = write_config(tmp_path, mailbox, smtp_server, url, daemon={"standby_interval": 1.0})
        before_during_after(pg, config, log, mailbox, smtp_server)
    assert "leadership: cannot reach the database" in log.read_text()  # it was down


def test_an_smtp_server_that_never_answers_holds_up_no_intake(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    # Issue 10 point 8: it accepts the connection and then says nothing, not even hello.
    # (A stop waits for the delivery thread, up to the SMTP timeout: 3 s here, 30 s by
    # default, which is systemd's TimeoutStopSec; a kill then loses nothing, test_kill.py.)
    log = tmp_path / "daemon.log"
    with socket.create_server(("127.0.0.1", 0)) as silent:
        config = write_config(
            tmp_path,
            mailbox,
            smtp_server,
            sqlite_url,
            smtp={"port": silent.getsockname()[1], "timeout": 3.0},
        )
        with daemon(config, log):
            for who in ("an", "bo", "cas"):
                arrives(mailbox, who)
                wait_until(
                    lambda: mailbox.uids("INBOX") == [], 15, "intake despite a mute server", log
                )
    assert len(mailbox.uids("Verwerkt")) == 3
    assert smtp_server.messages == []
    # the README: no mail address in the log above DEBUG
    assert "@burger.example" not in log.read_text()
