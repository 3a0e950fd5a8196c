"""Outgoing mail is written directly (not with EmailMessage, too slow for a backlog):
what a mail client reads of it must be exactly what was rendered."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.domain.model import Address
from mailbot.outbound.compose import compose
from mailbot.outbound.render import RenderedMail, TemplateRenderer

NOW = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)


def _compose(subject: str, text: str, name: str = "Jan Peeters", refs: int = 1) -> bytes:
    return compose(
        sender=Address("klachten@gemeente.example", "Klachtendienst Gemeente"),
        to=[Address("jan@burger.example", name), Address("dienst@gemeente.example", "")],
        rendered=RenderedMail(subject, text, f"<p>{text}</p>"),
        message_id="1.mailbot@gemeente.example",
        now=NOW,
        in_reply_to="c1@burger.example",
        references=[f"r{n}.een.lange.message.id@burger.example" for n in range(refs)],
    ).content


@pytest.mark.parametrize(
    ("subject", "text", "name"),
    [
        (
            "Ontvangstmelding van je klacht [KL-2026-0001]",
            "Beste Jan,\n\nWe hebben je klacht.\n",
            "Jan",
        ),
        (
            ("Klacht over de Kerkstraat – één week later, nog steeds niets gebeurd " * 3).strip(),
            "Geachte heer Müller,\n\nUw klacht “sluikstort” is ontvangen. ✓\n",
            'Müller, "Hans" <x>',
        ),
        ("Lange regel", "é" + "x" * 2000 + "\n\nEinde.\n", "Ann"),
    ],
)
def test_what_a_mail_client_reads_is_what_was_rendered(subject: str, text: str, name: str) -> None:
    raw = _compose(subject, text, name, refs=12)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert not message.defects
    assert message["Subject"] == subject
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        (name, "jan@burger.example"),
        ("", "dienst@gemeente.example"),
    ]
    assert message["Message-ID"] == "<1.mailbot@gemeente.example>"
    assert message["In-Reply-To"] == "<c1@burger.example>"
    assert message["References"].split()[-1] == "<c1@burger.example>"
    assert len(message["References"].split()) == 13
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Content-Language"] == "nl-BE"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert plain.get_content().replace("\r\n", "\n") == text
    assert html.get_content().replace("\r\n", "\n") == f"<p>{text}</p>\n"
    # SMTP's limits: CRLF line ends, no line over 998 octets.
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_a_line_break_in_a_subject_never_makes_a_header() -> None:
    """A subject with a stranger's words in it cannot inject a header (the line break is
    a space) and never stops the mail."""
    content = _compose("Onderwerp\r\nBcc: iedereen@example.com", "tekst")
    head = content.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head
    subject = next(line for line in head.split(b"\r\n") if line.startswith(b"Subject:"))
    assert b"Onderwerp" in subject and b"Bcc: iedereen@example.com" in subject


@pytest.mark.parametrize(
    ("moment", "written"),
    [
        (datetime(2026, 12, 24, 13, 5, tzinfo=UTC), "24 december 2026 om 14:05"),
        (datetime(2026, 3, 31, 23, 30, 59, tzinfo=UTC), "1 april 2026 om 01:30"),  # summer
        (datetime(2026, 10, 25, 0, 59, tzinfo=UTC), "25 oktober 2026 om 02:59"),  # DST ends
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), "25 oktober 2026 om 02:00"),
    ],
)
def test_a_moment_is_written_as_the_municipalitys_clock_shows_it(
    moment: datetime, written: str
) -> None:
    renderer = TemplateRenderer(ZoneInfo("Europe/Brussels"))
    assert renderer.long_datetime(moment) == written
