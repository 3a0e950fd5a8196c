"""Generated hostile mail: whatever bytes a sender puts in the inbox, mailbot ends up with a
parsed mail or a clean, quarantine-able ParseError, never an unexpected exception.

Two properties, without servers:
* parse_mail returns an InboundMail whose text can be stored (no NUL, valid Unicode), or
  raises ParseError with a reason;
* intake (IntakeService.process, on SQLite) files every such mail as a case, a follow-up,
  a no-case or a quarantine with a reason, never as "internal error" or "parser crashed".

CI runs a short variant; the soak (`-m slow`, MAILBOT_HOSTILE_EXAMPLES to change the count)
runs many more examples and reports the process's peak RSS.

    .venv/bin/python -m pytest tests/test_hostile_mail.py -m slow -s

Findings of the soak, fixed, each with an end-to-end test in test_hostile_input.py:
* a Date at the edge of the calendar (31 Dec 9999 23:59:59 -1200) overflowed when converted
  to UTC: now no date and a defect;
* a display name or Subject holding a literal encoded-word with an empty charset, e.g.
  From: =??q?a=0D=0Ab?= <jan@burger.example>, was decoded a second time by compose() (CR LF,
  lone surrogates): outgoing headers now break every `=?` of a stranger's text.
"""

from __future__ import annotations

import itertools
import os
import resource
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.config_files import ENV, write_config
from support.hostile import raw_mails

from mailbot.app import App
from mailbot.config import load_config
from mailbot.domain.model import FetchedMail, InboundMail
from mailbot.inbound.parse import ParseError, parse_mail

CI_EXAMPLES = 150
SOAK_EXAMPLES = int(os.environ.get("MAILBOT_HOSTILE_EXAMPLES", "3000"))

# Issue 10 point 8: a Date at the edge of the calendar overflowed when converted to UTC.
OVERFLOW_DATE = (
    b"From: Jan <jan@burger.example>\r\nSubject: x\r\n"
    b"Date: 31 Dec 9999 23:59:59 -1200\r\n\r\nGoedemiddag\r\n"
)

common = settings(
    deadline=None,  # 2 shared cores: timing says nothing here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,  # no .hypothesis folder in the work tree
)
# CI: the same examples every run (a red CI means a change broke something, never bad luck);
# the soak draws new ones each time.
ci = settings(common, derandomize=True)


def storable(text: str, what: str) -> None:
    assert "\x00" not in text, f"NUL in {what}: {text!r}"
    text.encode("utf-8")  # raises on a lone surrogate, which no database stores


def check_parsed(mail: InboundMail) -> None:
    for what, text in [
        ("subject", mail.subject),
        ("body", mail.body_text),
        ("message_id", mail.message_id),
        *(("In-Reply-To", i) for i in mail.in_reply_to),
        *(("References", i) for i in mail.references),
        *((f"header {name}", value) for name, value in mail.headers),
        *((f"header name {name!r}", name) for name, _ in mail.headers),
        *(("filename", a.filename) for a in mail.attachments),
        *(("content type", a.content_type) for a in mail.attachments),
    ]:
        storable(text, what)
    people = [mail.sender] if mail.sender else []
    for address in [*people, *mail.to, *mail.cc, *mail.reply_to]:
        storable(address.email, "address")
        storable(address.name, "display name")
    assert mail.message_id, "every mail gets an id, synthesised when missing"
    assert mail.date is None or mail.date.tzinfo is not None


def parse_or_refuse(raw: bytes) -> None:
    try:
        mail = parse_mail(raw)
    except ParseError as exc:
        assert str(exc), "a ParseError carries its reason"
        return
    check_parsed(mail)


# -- parse ----------------------------------------------------------------------------------


@settings(ci, max_examples=CI_EXAMPLES)
@given(raw=raw_mails())
def test_any_mail_parses_or_is_refused_cleanly(raw: bytes) -> None:
    parse_or_refuse(raw)


@settings(ci, max_examples=CI_EXAMPLES // 5)
@given(raw=raw_mails(deep=True))
def test_deeply_nested_mail_parses_or_is_refused_cleanly(raw: bytes) -> None:
    parse_or_refuse(raw)


def test_a_date_beyond_the_calendar_is_a_defect_not_a_crash() -> None:
    mail = parse_mail(OVERFLOW_DATE)
    assert mail.date is None
    assert "unparsable Date header" in mail.defects


# -- intake ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def intake_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """An App on a SQLite file; intake gets the raw bytes directly (no IMAP server)."""
    directory = tmp_path_factory.mktemp("hostile")
    db = f"sqlite:///{directory / 'mailbot.sqlite3'}"
    app = App(load_config(write_config(directory, {"database": {"url": db}}), env=ENV))
    app.upgrade_schema()
    try:
        yield app
    finally:
        app.close()


_uids = itertools.count(1)
CRASHES = ("internal error while processing", "parser crashed")


def file_through_intake(app: App, raw: bytes) -> None:
    item = FetchedMail("INBOX", 1, next(_uids), raw, datetime.now(UTC))
    with app.sessions() as session:
        result = app.intake.process(item, session)
        session.commit()
    assert not result.reason.startswith(CRASHES), f"{result.reason}\nraw: {raw[:2000]!r}"
    mailbox = app.config.mailbox
    assert result.destination in (mailbox.processed_folder, mailbox.quarantine_folder)


@settings(ci, max_examples=CI_EXAMPLES // 3)
@given(raw=raw_mails())
def test_intake_files_any_mail_or_quarantines_it_with_a_reason(intake_app: App, raw: bytes) -> None:
    file_through_intake(intake_app, raw)


# -- the soak -------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


@pytest.mark.slow
def test_soak_parse_and_intake(
    intake_app: App, record_property: Callable[[str, object], None]
) -> None:
    """Many more examples through parse and intake; prints and records the peak RSS."""
    before = peak_rss_mib()

    @settings(common, max_examples=SOAK_EXAMPLES)
    @given(raw=st.one_of(raw_mails(), raw_mails(deep=True)))
    @example(raw=OVERFLOW_DATE)
    def soak(raw: bytes) -> None:
        parse_or_refuse(raw)
        file_through_intake(intake_app, raw)

    try:
        soak()
    finally:  # measured also when an example fails
        after = peak_rss_mib()
        record_property("peak_rss_mib", round(after, 1))
        print(f"\nhostile soak: {SOAK_EXAMPLES} examples, peak RSS {before:.0f} -> {after:.0f} MiB")
