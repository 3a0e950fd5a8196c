"""Ready for ops: `mailbot status`, instant pickup with IMAP IDLE, and two instances on one
PostgreSQL database (one active, the other takes over), with real processes."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

from harness import Mailbox, ReceivedMail, SmtpSink
from support.app import COORDINATOR, mailbot, write_config
from support.clock import fake_now
from support.daemon import daemon
from support.mails import ARRIVED, body_text, complaint
from support.waiting import wait_until


def receipts(smtp: SmtpSink) -> list[ReceivedMail]:
    return [m for m in smtp.messages if m.message["Auto-Submitted"] == "auto-replied"]


def test_status_is_healthy_after_a_pass_and_unhealthy_when_fetching_stopped(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url, reminders={"enabled": True})
    mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Klacht"), when=ARRIVED)
    assert mailbot("--config", config, "run", "--once").returncode == 0

    ok = mailbot("--config", config, "status", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = json.loads(ok.stdout)
    assert report["healthy"] is True
    assert report["open_cases"] == 1 and report["outbox_pending"] == 0
    assert report["last_fetch"] and report["last_send"] and report["next_reminder_run"]

    # Two hours later nothing has read the mailbox: monitoring must notice.
    later = mailbot("--config", config, "status", env=fake_now(hours=2))
    assert later.returncode == 1
    assert later.stdout.startswith("UNHEALTHY: no successful fetch since 2 h")


def test_a_mail_is_picked_up_at_once_with_idle(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    # poll_interval 120 s: a receipt within a few seconds can only come from IDLE.
    config = write_config(
        tmp_path,
        mailbox,
        smtp_server,
        sqlite_url,
        mailbox={"poll_interval": 120.0},
        daemon={"idle": True},
    )
    log = tmp_path / "daemon.log"
    with daemon(config, log, "-v"):  # -v: the daemon logs when its IDLE is in place
        wait_until(lambda: "idle: watching INBOX" in log.read_text(), 30, "IDLE", log)
        started = time.monotonic()
        mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Klacht"))
        smtp_server.wait_for(2, timeout=30)
        elapsed = time.monotonic() - started
    assert elapsed < 30, log.read_text()
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == ["jan@burger.example", COORDINATOR]


def test_two_instances_one_active_and_the_other_takes_over(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, pg_url: str
) -> None:
    config = write_config(
        tmp_path,
        mailbox,
        smtp_server,
        pg_url,
        mailbox={"poll_interval": 0.5},
        daemon={"standby_interval": 1.0},
    )
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    with daemon(config, log_a) as first:
        wait_until(lambda: "is now the active one" in log_a.read_text(), 30, "A active", log_a)
        with daemon(config, log_b) as second:
            wait_until(
                lambda: "standing by" in log_b.read_text(), 30, "B standing by", log_a, log_b
            )
            for n in range(5):
                mailbox.append("INBOX", complaint(f"B{n}", f"a{n}@burger.example", f"K{n}"))
            wait_until(lambda: len(receipts(smtp_server)) == 5, 30, "five receipts", log_a, log_b)
            assert "intake: pass done" not in log_b.read_text()  # B did nothing

            os.kill(first.pid, signal.SIGKILL)  # the active one dies without a word
            first.wait(timeout=10)
            for n in range(5, 10):
                mailbox.append("INBOX", complaint(f"B{n}", f"a{n}@burger.example", f"K{n}"))
            wait_until(lambda: len(receipts(smtp_server)) == 10, 60, "B takes over", log_a, log_b)
            assert "is now the active one" in log_b.read_text()
            assert second.poll() is None
    per_address = Counter(m.rcpt_tos[0] for m in receipts(smtp_server))
    assert len(per_address) == 10 and set(per_address.values()) == {1}  # no duplicates
    assert mailbox.uids("INBOX") == []


def test_run_once_refuses_to_compete_with_an_active_daemon(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url)
    log = tmp_path / "daemon.log"
    with daemon(config, log):
        wait_until(lambda: "is now the active one" in log.read_text(), 30, "daemon active")
        once = mailbot("--config", config, "run", "--once")
    assert once.returncode == 1 and "another instance is active" in once.stderr


def test_prometheus_metrics_on_loopback(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:

    from harness import free_port

    port = free_port()
    config = write_config(tmp_path, mailbox, smtp_server, sqlite_url, daemon={"metrics_port": port})
    mailbox.append("INBOX", complaint("Jan", "jan@burger.example", "Klacht"), when=ARRIVED)
    log = tmp_path / "daemon.log"
    with daemon(config, log):
        smtp_server.wait_for(2, timeout=30)
        wait_until(lambda: "mailbot_sent_total 2.0" in _scrape(port), 30, "metrics")
        text = _scrape(port)
    assert 'mailbot_mails_total{outcome="new_case"} 1.0' in text
    assert "mailbot_active 1.0" in text
    assert "mailbot_open_cases 1.0" in text and "mailbot_outbox_pending 0.0" in text
    assert 'mailbot_last_success_timestamp_seconds{loop="intake"}' in text


def _scrape(port: int) -> str:
    from urllib.error import URLError
    from urllib.request import urlopen

    try:
        with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except URLError:
        return ""


def test_a_failed_login_warns_the_coordinator_and_ops_once_a_day(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    config = write_config(
        tmp_path, mailbox, smtp_server, sqlite_url, staff={"ops": "ict@gemeente.example"}
    )
    config.write_text(
        config.read_text().replace(f'password = "{mailbox.password}"', 'password = "verlopen"')
    )
    for _ in range(2):
        run = mailbot("--config", config, "run", "--once")
        assert run.returncode == 1 and "login refused" in run.stderr
    warned = {m.rcpt_tos[0]: m for m in smtp_server.messages}
    assert set(warned) == {COORDINATOR, "ict@gemeente.example"}  # once each, not twice
    text = body_text(warned[COORDINATOR])
    assert warned[COORDINATOR].subject == "mailbot kan de klachtenmailbox niet lezen"
    assert "geen\r\nontvangstmelding" in text or "geen ontvangstmelding" in text
    assert "verlopen" not in text


def test_an_expiring_azure_secret_is_announced_by_mail(
    tmp_path: Path, mailbox: Mailbox, smtp_server: SmtpSink, sqlite_url: str
) -> None:
    from datetime import UTC, datetime

    from support.app import new_app

    (tmp_path / "secret").write_text("azure-secret-value\n")
    config = write_config(
        tmp_path,
        mailbox,
        smtp_server,
        sqlite_url,
        staff={"ops": "ict@gemeente.example"},
        mailbox={
            "auth": "xoauth2",
            "oauth_provider": "microsoft",
            "oauth_tenant": "gemeente.onmicrosoft.com",
            "oauth_client_id": "0b5c6e2a-3f41-4d7e-9a8b-1c2d3e4f5a6b",
            "oauth_client_secret_file": "secret",
            "oauth_secret_expires": "2026-12-10",
        },
    )
    config.write_text(config.read_text().replace(f'password = "{mailbox.password}"\n', "", 1))
    clock_now = [datetime(2026, 12, 3, 9, 0, tzinfo=UTC)]  # 7 days before
    app = new_app(config, lambda: clock_now[0])
    app.leadership.acquire()
    app.alerts.expiring_secrets()
    app.alerts.expiring_secrets()  # the same day again: nothing new
    clock_now[0] = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # 6 days: not a warning day
    app.alerts.expiring_secrets()
    app.dispatch_pass()
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        COORDINATOR,
        "ict@gemeente.example",
    ]
    mail = smtp_server.messages[0]
    assert mail.subject == "Het wachtwoord (client secret) van mailbot verloopt over 7 dagen"
    text = body_text(mail)
    assert "10 december 2026" in text and "azure-secret-value" not in text
