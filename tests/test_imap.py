"""The IMAP adapter against the real Dovecot: TLS verification, MOVE and its fallback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from harness import DovecotServer, Mailbox
from support.mails import complaint

from mailbot.domain.errors import MailboxLoginError, MailboxUnavailableError, PermanentError
from mailbot.inbound.imap import ImapMailbox, ImapSettings


def settings(mailbox: Mailbox, **kw: object) -> ImapSettings:
    values: dict[str, object] = {
        "host": mailbox.host,
        "port": mailbox.port,
        "security": "plain",
        "username": mailbox.username,
        "password": mailbox.password,
        "timeout": 10.0,
    }
    values.update(kw)
    return ImapSettings(**values)  # type: ignore[arg-type]


def test_fetch_does_not_touch_flags_and_keeps_internaldate(mailbox: Mailbox) -> None:
    when = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    raw = complaint("An", "an@burger.example", "Klacht")
    mailbox.append("INBOX", raw, when=when)
    with ImapMailbox(settings(mailbox)) as imap:
        uidvalidity, uids = imap.open_folder("INBOX")
        fetched = list(imap.fetch("INBOX", uids))
    assert uidvalidity == mailbox.uidvalidity("INBOX")
    assert [m.raw for m in fetched] == [raw]
    assert fetched[0].arrived_at == when
    assert "\\Seen" not in mailbox.messages("INBOX")[0].flags  # BODY.PEEK[]


class NoMoveMailbox(ImapMailbox):
    """The same server, but we pretend it lacks MOVE (RFC 6851), as older servers do."""

    @property
    def capabilities(self) -> list[str]:
        return [c for c in super().capabilities if c != "MOVE"]


@pytest.mark.parametrize("cls", [ImapMailbox, NoMoveMailbox])
def test_move_only_moves_the_given_uids(mailbox: Mailbox, cls: type[ImapMailbox]) -> None:
    for n in range(3):
        mailbox.append("INBOX", complaint("B", f"b{n}@burger.example", f"Klacht {n}"))
    keep_uid = mailbox.uids("INBOX")[2]
    with cls(settings(mailbox)) as imap:
        imap.ensure_folders(["Verwerkt"])
        _uv, uids = imap.open_folder("INBOX")
        imap.move(uids[:2], "Verwerkt")
    assert mailbox.uids("INBOX") == [keep_uid]
    assert len(mailbox.uids("Verwerkt")) == 2


def test_wrong_password_is_a_login_error_without_the_password(mailbox: Mailbox) -> None:
    with pytest.raises(MailboxLoginError) as info:
        ImapMailbox(settings(mailbox, password="verkeerd")).connect()
    assert "login refused" in str(info.value) and "verkeerd" not in str(info.value)


def test_nobody_listening_is_a_transient_error(mailbox: Mailbox) -> None:
    from harness import free_port

    with pytest.raises(MailboxUnavailableError):
        ImapMailbox(settings(mailbox, port=free_port())).connect()


def test_tls_certificates_are_verified(dovecot_tls: DovecotServer, mailbox_tls: Mailbox) -> None:
    good = settings(mailbox_tls, security="tls", ca_file=dovecot_tls.ca_path)
    with ImapMailbox(good) as imap:
        assert "INBOX" in imap.list_folders()
    with pytest.raises(PermanentError, match="certificate not trusted"):
        ImapMailbox(settings(mailbox_tls, security="tls")).connect()


BODY = "Het fietspad aan de Molenstraat ligt al weken vol glasscherven."


def _glass(mailbox: Mailbox) -> None:
    for n in range(5):
        mailbox.append("INBOX", complaint("C", f"c{n}@burger.example", f"Glas {n}", BODY))


def test_debug_logging_keeps_the_mails_out_of_the_journal(
    mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Ops may run with `level = "debug"`: the commands show, citizens' mail does not
    (imapclient switches imaplib's trace of every response on)."""
    caplog.set_level(logging.DEBUG)
    _glass(mailbox)
    with ImapMailbox(settings(mailbox)) as imap:
        _uv, uids = imap.open_folder("INBOX")
        fetched = list(imap.fetch("INBOX", uids))
    assert len(fetched) == 5 and all(BODY.encode() in m.raw for m in fetched)
    assert "FETCH" in caplog.text  # imapclient's log of the commands it sent
    assert "Molenstraat" not in caplog.text


def test_a_fetch_does_not_format_the_mails_as_trace_text(mailbox: Mailbox) -> None:
    """imaplib formats its trace before the logger drops it: for a backlog batch of 200
    mails a repr of 17 MB, most of the fetch's CPU time. The trace keeps the commands."""
    _glass(mailbox)
    traced: list[str] = []
    with ImapMailbox(settings(mailbox)) as imap:
        imap._client._imap._mesg = traced.append  # imaplib's trace hook
        _uv, uids = imap.open_folder("INBOX")
        assert len(list(imap.fetch("INBOX", uids))) == 5
    assert any("UID FETCH" in line for line in traced)
    assert not any("Molenstraat" in line for line in traced)
