"""The test servers behave like the real ones the daemon will meet."""

from __future__ import annotations

import datetime as dt
import email.policy
import os
import smtplib
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from harness import (
    DovecotServer,
    Mailbox,
    PostgresUnavailable,
    ServerThreadError,
    SmtpSink,
    free_port,
    fresh_pg_database,
    group_alive,
    pg_database_exists,
)
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

BRUSSELS = ZoneInfo("Europe/Brussels")


def complaint(subject: str = "Klacht over de vuilnisophaling", body: str = "Goedendag,\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Burger <burger@example.org>"
    msg["To"] = "klachten@gemeente.example"
    msg["Subject"] = subject
    msg["Message-ID"] = "<klacht-1@example.org>"
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF, as IMAP hands it back


# -- Dovecot ------------------------------------------------------------------------------


def test_append_sets_internaldate_that_imapclient_reads_back(mailbox: Mailbox) -> None:
    received = dt.datetime(2026, 3, 29, 1, 30, tzinfo=BRUSSELS)  # night of the DST switch
    raw = complaint(body="Mijn container is niet geledigd.\n")

    uid = mailbox.append("INBOX", raw, when=received)

    with IMAPClient(mailbox.host, mailbox.port, ssl=False, timeout=10) as client:
        client.normalise_times = False  # keep the server's offset; see the next test
        client.login(mailbox.username, mailbox.password)
        client.select_folder("INBOX", readonly=True)
        data = client.fetch([uid], ["INTERNALDATE", "BODY.PEEK[]"])
    assert data[uid][b"INTERNALDATE"] == received
    assert data[uid][b"BODY[]"] == raw
    [stored] = mailbox.messages("INBOX")
    assert stored.internaldate == received
    assert stored.internaldate.tzinfo == dt.UTC
    assert mailbox.fetch_all("INBOX") == [raw]


def test_imapclient_default_internaldate_is_an_hour_off_across_dst(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """imapclient's default naive local INTERNALDATE uses today's UTC offset, not the
    offset on that date: code must set normalise_times = False (or use Mailbox.messages).
    """
    monkeypatch.setenv("TZ", "Europe/Brussels")
    time.tzset()
    try:
        summer_now = bool(time.localtime().tm_isdst)
        # a date on the other side of the daylight-saving switch from today
        received = dt.datetime(2026, 1 if summer_now else 7, 15, 12, 0, tzinfo=BRUSSELS)
        uid = mailbox.append("INBOX", complaint(), when=received)
        with mailbox.connect() as client:
            client.select_folder("INBOX", readonly=True)
            naive = client.fetch([uid], ["INTERNALDATE"])[uid][b"INTERNALDATE"]
        assert naive.tzinfo is None
        assert naive.replace(tzinfo=BRUSSELS) - received == dt.timedelta(
            hours=1 if summer_now else -1
        )
        assert mailbox.messages("INBOX")[0].internaldate == received
    finally:
        monkeypatch.undo()
        time.tzset()


def test_append_refuses_a_naive_date(mailbox: Mailbox) -> None:
    with pytest.raises(ValueError, match="aware"):
        mailbox.append("INBOX", complaint(), when=dt.datetime(2026, 1, 1))


def test_top_level_folders_and_move(mailbox: Mailbox) -> None:
    mailbox.create("Verwerkt")
    mailbox.create("Quarantaine")
    mailbox.create("Archief/2026")  # the namespace separator is "/"
    uid = mailbox.append("INBOX", complaint(), flags=["\\Seen"])

    with mailbox.connect() as client:
        assert client.namespace().personal == (("", "/"),)
        assert b"MOVE" in client.capabilities()
        client.select_folder("INBOX")
        client.move([uid], "Verwerkt")

    assert mailbox.folders() == ["Archief", "Archief/2026", "INBOX", "Quarantaine", "Verwerkt"]
    assert mailbox.uids("INBOX") == []
    [moved] = mailbox.messages("Verwerkt")
    assert moved.raw == complaint()
    assert "\\Seen" in moved.flags
    assert mailbox.uidvalidity("Verwerkt") > 0


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_gets_an_empty_mailbox(
    mailbox: Mailbox, dovecot: DovecotServer, turn: str
) -> None:
    assert mailbox.folders() == ["INBOX"]
    assert mailbox.uids("INBOX") == []
    mailbox.append("INBOX", complaint(subject=f"{turn} test"))
    mailbox.create(f"Verwerkt-{turn}")

    other = dovecot.new_mailbox()
    assert other.username != mailbox.username
    assert other.uids("INBOX") == []
    assert mailbox.uids("INBOX") == [1]


def test_static_user_klachten_can_log_in(dovecot: DovecotServer) -> None:
    box = dovecot.mailbox("klachten")
    assert (box.username, box.password) == ("klachten", "geheim")
    assert "INBOX" in box.folders()


@pytest.mark.parametrize(
    ("user", "password"),
    [("klachten-9999", "fout"), ("klachten", "fout"), ("collega", "geheim")],
)
def test_wrong_password_is_refused(dovecot: DovecotServer, user: str, password: str) -> None:
    with IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10) as client:
        with pytest.raises(LoginError):
            client.login(user, password)


def test_bare_lf_comes_back_as_crlf(mailbox: Mailbox) -> None:
    mailbox.append("INBOX", b"Subject: kale LF\n\nregel 1\nregel 2\n")
    assert mailbox.fetch_all("INBOX") == [b"Subject: kale LF\r\n\r\nregel 1\r\nregel 2\r\n"]


def test_tls_verifies_against_the_test_ca(dovecot_tls: DovecotServer, mailbox_tls: Mailbox) -> None:
    context = ssl.create_default_context(cafile=str(dovecot_tls.ca_path))
    with IMAPClient(
        mailbox_tls.host, mailbox_tls.port, ssl=True, ssl_context=context, timeout=10
    ) as client:
        client.login(mailbox_tls.username, mailbox_tls.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    mailbox_tls.append("INBOX", complaint())  # the helper itself goes through TLS
    assert mailbox_tls.uids("INBOX") == [1]


def test_tls_fails_with_the_system_ca_store(dovecot_tls: DovecotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            dovecot_tls.host,
            dovecot_tls.port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=10,
        )


def test_starttls_port_verifies_against_the_test_ca(
    dovecot_tls: DovecotServer, mailbox_tls: Mailbox
) -> None:
    assert dovecot_tls.starttls_port is not None
    with IMAPClient(dovecot_tls.host, dovecot_tls.starttls_port, ssl=False, timeout=10) as client:
        assert b"STARTTLS" in client.capabilities()
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(ssl.create_default_context())
    with IMAPClient(dovecot_tls.host, dovecot_tls.starttls_port, ssl=False, timeout=10) as client:
        client.starttls(ssl.create_default_context(cafile=str(dovecot_tls.ca_path)))
        client.login(mailbox_tls.username, mailbox_tls.password)
    # The login line in Dovecot's log says "TLS" (vs "secured" for plaintext on loopback):
    # the way to check that code under test really used TLS.
    dovecot_tls.wait_for_log(rf"Login: user=<{mailbox_tls.username}>,.*, TLS, ")


def test_loopback_counts_as_secure_for_dovecot(
    dovecot_tls: DovecotServer, mailbox_tls: Mailbox
) -> None:
    """Documents a quirk: ssl = required does not stop LOGIN before STARTTLS from this host.

    So "refuses to log in without TLS" can only be tested on the client side.
    """
    assert dovecot_tls.starttls_port is not None
    with IMAPClient(dovecot_tls.host, dovecot_tls.starttls_port, ssl=False, timeout=10) as client:
        assert b"LOGINDISABLED" not in client.capabilities()
        client.login(mailbox_tls.username, mailbox_tls.password)
    dovecot_tls.wait_for_log(rf"Login: user=<{mailbox_tls.username}>,.*, secured, ")


def test_stopping_dovecot_leaves_no_process_and_no_files() -> None:
    server = DovecotServer()
    server.start()
    assert server._proc is not None
    pid, root = server._proc.pid, server.root
    assert group_alive(pid)
    server.stop()
    assert not group_alive(pid)
    assert not root.exists()


# -- SMTP -------------------------------------------------------------------------------


def receipt(to: str = "burger@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Klachtendienst <klachten@gemeente.example>"
    msg["To"] = to
    msg["Subject"] = "Ontvangstbevestiging KL-2026-0042 – uw klacht is goed ontvangen"
    msg.set_content("Geachte heer, mevrouw,\n\nWij hebben uw klacht ontvangen. Één week…\n")
    return msg


def test_smtp_sink_keeps_what_smtplib_sends(smtp_server: SmtpSink) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.send_message(receipt(), from_addr="bounce@gemeente.example")

    [mail] = smtp_server.wait_for(1)
    assert mail.mail_from == "bounce@gemeente.example"
    assert mail.rcpt_tos == ("burger@example.org",)
    assert mail.message["Subject"] == (
        "Ontvangstbevestiging KL-2026-0042 – uw klacht is goed ontvangen"
    )
    assert "Één week…" in mail.message.get_content()
    assert mail.data.startswith(b"From: ")
    assert mail.auth_login is None


def test_smtp_injected_temporary_failure_then_success(smtp_server: SmtpSink) -> None:
    smtp_server.fail_next(1, code=451, text="4.3.0 try again")

    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as excinfo:
            client.send_message(receipt())
        assert isinstance(excinfo.value, smtplib.SMTPResponseException)
        assert excinfo.value.smtp_code == 451
        assert excinfo.value.smtp_error == b"4.3.0 try again"
        client.send_message(receipt())  # the retry goes through

    assert len(smtp_server.wait_for(1)) == 1
    assert [(r.stage, r.code) for r in smtp_server.rejections] == [("DATA", 451)]


def test_smtp_permanent_recipient_failure(smtp_server: SmtpSink) -> None:
    smtp_server.reject_recipient("weg@example.org")
    smtp_server.fail_next(1, code=550, text="5.7.1 no", stage="MAIL")

    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as sender:
            client.send_message(receipt())
        assert sender.value.smtp_code == 550
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(receipt(to="weg@example.org"))
    assert refused.value.recipients == {"weg@example.org": (550, b"5.1.1 mailbox unavailable")}
    assert smtp_server.messages == []


def test_wait_for_says_what_did_arrive(smtp_server: SmtpSink) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.send_message(receipt())
    with pytest.raises(AssertionError, match=r"(?s)got 1:.*KL-2026-0042"):
        smtp_server.wait_for(2, timeout=0.2)


def test_sink_reraises_what_broke_in_its_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = SmtpSink()
    sink.start()

    def broken(mail: object) -> None:
        raise RuntimeError("kapot")

    monkeypatch.setattr(sink, "_deliver", broken)
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(receipt())
    assert refused.value.smtp_code == 451
    with pytest.raises(ServerThreadError, match="kapot") as raised:
        sink.stop()
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_smtp_auth(smtp_server_auth: SmtpSink) -> None:
    assert smtp_server_auth.username and smtp_server_auth.password
    with smtplib.SMTP(smtp_server_auth.host, smtp_server_auth.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as anonymous:
            client.send_message(receipt())
        assert anonymous.value.smtp_code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(smtp_server_auth.username, "fout")
        client.login(smtp_server_auth.username, smtp_server_auth.password)
        client.send_message(receipt())

    [mail] = smtp_server_auth.wait_for(1)
    assert mail.auth_login == smtp_server_auth.username


# -- databases --------------------------------------------------------------------------


@pytest.mark.postgres
def test_pg_url_is_a_fresh_database(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE zaak (id serial PRIMARY KEY, ref text UNIQUE)"))
            conn.execute(sa.text("INSERT INTO zaak (ref) VALUES ('KL-2026-0042')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT ref FROM zaak")).scalar_one() == "KL-2026-0042"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_pg_database_is_dropped_even_with_open_connections() -> None:
    with fresh_pg_database() as url:
        name = url.rsplit("/", 1)[1]
        engine = sa.create_engine(url)
        conn = engine.connect()  # left open on purpose: DROP ... WITH (FORCE)
        conn.execute(sa.text("SELECT 1"))
    assert not pg_database_exists(name)
    conn.invalidate()
    engine.dispose()


def test_unreachable_postgres_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(PostgresUnavailable, match="PostgreSQL is not reachable"):
        with fresh_pg_database(f"host=127.0.0.1 port={port} user=postgres connect_timeout=2"):
            pass


def test_sqlite_url_lives_in_tmp_path(sqlite_url: str, tmp_path: Path) -> None:
    if os.environ.get("MAILBOT_TEST_DATABASE") == "postgresql":  # the suite's second round
        assert sqlite_url.startswith("postgresql+psycopg://postgres@127.0.0.1:5432/")
    else:
        assert sqlite_url == f"sqlite:///{tmp_path}/mailbot.sqlite3"


def test_db_url_runs_on_both_backends(db_url: str, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["db_url"]
    assert db_url.startswith(
        {"sqlite": "sqlite:///", "postgresql": "postgresql+psycopg://"}[backend]
    )
    engine = sa.create_engine(db_url)
    try:
        meta = sa.MetaData()
        table = sa.Table("outbox", meta, sa.Column("key", sa.String(64), primary_key=True))
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.insert().values(key="receipt:KL-2026-0042"))
        with engine.connect() as conn:
            assert conn.execute(sa.select(table.c.key)).scalars().all() == ["receipt:KL-2026-0042"]
    finally:
        engine.dispose()
