"""The demo's sample mails: what a complaints mailbox of a Flemish municipality gets.

Texts are Dutch, as citizens write them; the labels are English, for the demo's report.
Every address and domain is fictitious (``.example``). Message-IDs never end in
``@gemeente.example``: mailbot takes such mail for its own (see ``is_own_mail``).
"""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

MAILBOX = "klachten@gemeente.example"  # the complaints mailbox and mailbot's From address
FROM_NAME = "Klachtendienst Gemeente"
COORDINATOR = "klachtencoordinator@gemeente.example"
# The website's complaint form mails the complaints address from this fixed sender, with
# the citizen's answers as "Label: value" lines; the demo's config names it in [form].
FORM_SENDER = "formulier@gemeente.example"

MARIE = ("Marie Peeters", "marie.peeters@mail.example")
JAN = ("Jan De Smet", "jan.desmet@mail.example")
# Jan writes from an old address his provider has closed since: the receipt bounces.
# (mailbot answers the From address only; a Reply-To is shown to staff, never mailed.)
JAN_OLD = "jan.desmet@oude-provider.example"
SOFIE = ("Sofie Janssens", "sofie.janssens@mail.example")

MARIE_ID = "<f3a1c9e2.marie@mail.example>"
JAN_ID = "<c81f.7781.jan@mail.example>"


@dataclass(frozen=True)
class SampleMail:
    label: str  # what this mail is, in English, for the report
    raw: bytes  # as the mail server stores it: CRLF line ends
    arrived_at: datetime  # IMAP INTERNALDATE: when the mail server received it


def _mail(
    sender: tuple[str, str],
    subject: str,
    body: str,
    *,
    at: datetime,
    message_id: str,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = formataddr(sender)
    msg["To"] = formataddr((FROM_NAME, MAILBOX))
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF, as mail travels and IMAP stores it


def first_batch(start: datetime) -> list[SampleMail]:
    """What waits in the inbox when mailbot first looks: `start` is the first arrival, the
    last one comes 48 minutes later."""
    return [_marie(start), _jan(start), _form(start), _broken(start)]


def _marie(start: datetime) -> SampleMail:
    """Marie waited at the Burgerzaken desk: an ordinary complaint."""
    return SampleMail(
        "an ordinary complaint",
        _mail(
            MARIE,
            "Wachttijd aan het loket Burgerzaken",
            "Goedemorgen,\n\n"
            "Vorige dinsdag had ik om 10 uur een afspraak aan het loket van Burgerzaken\n"
            "voor een nieuwe identiteitskaart. Ik ben pas om 11.40 uur geholpen, en niemand\n"
            "kon me zeggen hoe lang het nog zou duren. Ik heb daarvoor een halve dag verlof\n"
            "moeten nemen.\n\n"
            "Een afspraak is toch net bedoeld om niet te moeten wachten?\n\n"
            "Met vriendelijke groeten,\n"
            "Marie Peeters\n"
            "Dorpsstraat 14\n",
            at=start,
            message_id=MARIE_ID,
        ),
        start,
    )


def _jan(start: datetime) -> SampleMail:
    """Jan, from an address his provider has closed since: the receipt will bounce."""
    return SampleMail(
        "an ordinary complaint, from an address that no longer receives mail",
        _mail(
            (JAN[0], JAN_OLD),
            "Onvriendelijk onthaal bij de dienst Omgeving",
            "Geachte,\n\n"
            "Vorige week ging ik langs bij de dienst Omgeving met een vraag over de\n"
            "vergunning voor mijn tuinhuis. De medewerker aan de balie was erg kortaf, zei\n"
            "dat ik 'maar op de website moest kijken' en liet me gewoon staan.\n\n"
            "Ik verwacht toch dat een inwoner beleefd geholpen wordt.\n\n"
            "Jan De Smet\n",
            at=start + timedelta(minutes=12),
            message_id=JAN_ID,
        ),
        start + timedelta(minutes=12),
    )


def _form(start: datetime) -> SampleMail:
    """Sofie through the website form: the citizen is in the body."""
    return SampleMail(
        f"a complaint from the website form (sender {FORM_SENDER})",
        _mail(
            ("Website gemeente", FORM_SENDER),
            "Klachtenformulier: Containerpark gesloten zonder aankondiging",
            "Er is een klacht ingediend via het klachtenformulier op de website.\n\n"
            f"Naam: {SOFIE[0]}\n"
            f"E-mail: {SOFIE[1]}\n"
            "Onderwerp: Containerpark gesloten zonder aankondiging\n"
            "Klacht:\n"
            "Zaterdag stond ik om 10 uur met een volle aanhangwagen aan het containerpark,\n"
            "maar het was gesloten. Op de website stond niets over een sluiting. Ik ben\n"
            "voor niets twintig kilometer heen en terug gereden.\n\n"
            "--\n"
            "Dit bericht werd verstuurd door de website van de gemeente.\n",
            at=start + timedelta(minutes=31),
            message_id="<formulier.8812@www.gemeente.example>",
        ),
        start + timedelta(minutes=31),
    )


def _broken(start: datetime) -> SampleMail:
    """A mail whose header block was lost on the way: quarantine."""
    return SampleMail(
        "a broken mail: its header block was lost on the way",
        (
            b"--=_NextPart_000_0042_01DAB1C2.3F4E5A60\r\n"
            b'Content-Type: text/plain; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n"
            b"\r\n"
            b"Goedemiddag,\r\n"
            b"\r\n"
            b"De straatverlichting in de Kapelstraat is al drie weken stuk. Het is =\r\n"
            b"'s avonds aardedonker.\r\n"
        ),
        start + timedelta(minutes=48),
    )


def second_batch(
    start: datetime, receipt_to_marie: EmailMessage, receipt_to_jan: EmailMessage
) -> list[SampleMail]:
    """What arrives after the first receipts went out (they need those receipts' headers):
    `start` is the first arrival, the last one comes 55 minutes later."""
    return [
        SampleMail(
            "an out-of-office reply to Marie's receipt (Auto-Submitted: auto-replied)",
            _mail(
                MARIE,
                f"Automatisch antwoord: {receipt_to_marie['Subject']}",
                "Bedankt voor je bericht. Ik ben met verlof en lees mijn mails niet.\n"
                "Vanaf maandag ben ik terug.\n",
                at=start,
                message_id="<ooo.5521@mail.example>",
                headers={
                    "In-Reply-To": str(receipt_to_marie["Message-ID"]),
                    "References": str(receipt_to_marie["Message-ID"]),
                    "Auto-Submitted": "auto-replied",
                    "X-Auto-Response-Suppress": "All",
                },
            ),
            start,
        ),
        SampleMail(
            "a bounce (multipart/report delivery-status) of the receipt to Jan's old address",
            _bounce(receipt_to_jan, at=start + timedelta(minutes=2)),
            start + timedelta(minutes=2),
        ),
        SampleMail(
            "a follow-up: Jan answers his own first mail (In-Reply-To), from his real address",
            _mail(
                JAN,
                "Re: Onvriendelijk onthaal bij de dienst Omgeving",
                "Goedemiddag,\n\n"
                "Ik heb nog geen ontvangstbevestiging gekregen. Is mijn klacht wel aangekomen?\n"
                "Ik schreef vanaf mijn oude adres, dat bestaat niet meer.\n"
                f"Mijn adres is nu {JAN[1]}.\n\n"
                "Jan De Smet\n",
                at=start + timedelta(minutes=55),
                message_id="<c81f.7790.jan@mail.example>",
                headers={"In-Reply-To": JAN_ID, "References": JAN_ID},
            ),
            start + timedelta(minutes=55),
        ),
    ]


def _bounce(original: EmailMessage, *, at: datetime) -> bytes:
    """A Postfix-style delivery status notification (RFC 3464) about `original`."""
    recipient = original["To"].addresses[0].addr_spec
    return (
        "From: Mail Delivery System <MAILER-DAEMON@smtp.gemeente.example>\r\n"
        f"To: {MAILBOX}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {format_datetime(at)}\r\n"
        "Message-ID: <dsn.4411.b1@smtp.gemeente.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-b1"\r\n'
        "\r\n"
        "--dsn-b1\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host smtp.gemeente.example.\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        f"<{recipient}>: Host or domain name not found. Name service error for\r\n"
        f"    name={recipient.rpartition('@')[2]} type=MX: Host not found\r\n"
        "\r\n"
        "--dsn-b1\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; smtp.gemeente.example\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.2\r\n"
        "Diagnostic-Code: X-Postfix; Host or domain name not found\r\n"
        "\r\n"
        "--dsn-b1\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"From: {original['From']}\r\n"
        f"To: {original['To']}\r\n"
        f"Subject: {original['Subject']}\r\n"
        f"Message-ID: {original['Message-ID']}\r\n"
        "\r\n"
        "--dsn-b1--\r\n"
    ).encode()
