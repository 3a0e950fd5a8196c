"""Turn rendered texts into complete RFC 5322 messages with the headers that keep
mail clients threading and keep other robots from answering us."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import format_datetime, formataddr, make_msgid

from mailbot.domain.model import Address
from mailbot.outbound.render import RenderedMail


@dataclass(frozen=True)
class ComposedMail:
    message_id: str  # without angle brackets
    recipients: tuple[str, ...]
    subject: str
    content: bytes


OWN_ID_TAG = "mailbot"


def new_message_id(domain: str) -> str:
    """'<time>.<pid>.<random>.mailbot@<domain>': the tag tells our own mail from other mail
    of the same domain when it comes back (a bounce, a copy in the sent folder)."""
    return make_msgid(idstring=OWN_ID_TAG, domain=domain).strip("<>")


_ENCODED_WORD_START = "=?"
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " "})


def inert(text: str) -> str:
    """Header text as it stands, never re-read as an encoded-word: a name or subject from a
    stranger can hold a literal `=?…?=` that the email package (or the reader's mail
    client) would otherwise decode (to CR LF, a second address or lone surrogates)."""
    return text.translate(_LINE_BREAKS).replace(_ENCODED_WORD_START, "= ?")


@dataclass(frozen=True)
class Envelope:
    """Everything about a mail but its texts."""

    sender: Address
    to: Sequence[Address]
    message_id: str
    now: datetime
    in_reply_to: str | None
    references: Sequence[str]
    auto_submitted: str
    reply_to: Address | None
    extra_headers: Sequence[tuple[str, str]]

    @property
    def utf8(self) -> bool:
        """RFC 6532: an internationalised address is written as UTF-8 in the header; the
        mail then needs an SMTPUTF8 server (RFC 6531), which outbound/smtp.py asks for."""
        return not all(a.email.isascii() for a in (self.sender, *self.to))

    def thread(self) -> tuple[str | None, list[str]]:
        """In-Reply-To and References (RFC 5322 section 3.6.4); in a mail that is not
        SMTPUTF8 a non-ASCII msg-id is left out (a msg-id is never an encoded word)."""
        in_reply_to, refs = self.in_reply_to, [r for r in self.references if r]
        if not self.utf8:
            in_reply_to = in_reply_to if in_reply_to and in_reply_to.isascii() else None
            refs = [r for r in refs if r.isascii()]
        if in_reply_to and in_reply_to not in refs:
            refs.append(in_reply_to)
        return in_reply_to, refs


def compose(
    *,
    sender: Address,
    to: Sequence[Address],
    rendered: RenderedMail,
    message_id: str,
    now: datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str = "auto-replied",
    reply_to: Address | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> ComposedMail:
    """A multipart/alternative mail (text, then HTML), as bytes with CRLF line ends."""
    envelope = Envelope(
        sender,
        to,
        message_id,
        now,
        in_reply_to,
        references,
        auto_submitted,
        reply_to,
        extra_headers,
    )
    content = _utf8_mail(envelope, rendered) if envelope.utf8 else _ascii_mail(envelope, rendered)
    return ComposedMail(
        message_id=message_id,
        recipients=tuple(a.email for a in to),
        subject=rendered.subject,
        content=content,
    )


def _ascii_mail(e: Envelope, rendered: RenderedMail) -> bytes:
    """Written directly rather than with email.message.EmailMessage: its header registry
    and generator took about 6 ms a mail, the largest single cost of intake (bench/
    README.md). Headers are RFC 2047-encoded when not ASCII and folded when long; each
    part is 7bit or 8bit, or base64 when a line is longer than RFC 5322 allows."""
    in_reply_to, refs = e.thread()
    headers = [
        ("From", formataddr((inert(e.sender.name), e.sender.email))),
        ("To", ", ".join(formataddr((inert(a.name), a.email)) for a in e.to)),
        *(
            [("Reply-To", formataddr((inert(e.reply_to.name), e.reply_to.email)))]
            if e.reply_to
            else []
        ),
        ("Subject", inert(rendered.subject)),
        ("Date", format_datetime(e.now)),
        ("Message-ID", f"<{e.message_id}>"),
        *([("In-Reply-To", f"<{in_reply_to}>")] if in_reply_to else []),
        *([("References", " ".join(f"<{r}>" for r in refs))] if refs else []),
        *_automatic(e),
    ]
    boundary = f"=_mailbot_{secrets.token_hex(16)}"
    return b"".join(
        [
            *(_header(name, value) for name, value in headers),
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'.encode(),
            _part(boundary, "plain", rendered.text),
            _part(boundary, "html", rendered.html),
            f"--{boundary}--\r\n".encode(),
        ]
    )


def _automatic(e: Envelope) -> list[tuple[str, str]]:
    # RFC 3834 section 5: mark our mail as automatic so that well-behaved responders stay
    # silent; X-Auto-Response-Suppress does the same for Exchange / Outlook.
    return [
        ("Auto-Submitted", e.auto_submitted),
        ("X-Auto-Response-Suppress", "All"),
        ("Content-Language", "nl-BE"),
        *e.extra_headers,
    ]


def _utf8_mail(e: Envelope, rendered: RenderedMail) -> bytes:
    """A mail to or from an internationalised address: the email package with its SMTPUTF8
    policy (rare, so its cost does not matter)."""
    msg = EmailMessage(policy=SMTPUTF8)
    msg["From"] = _address(e.sender)
    msg["To"] = ", ".join(_address(a) for a in e.to)
    if e.reply_to is not None:
        msg["Reply-To"] = _address(e.reply_to)
    msg["Subject"] = inert(rendered.subject)
    msg["Date"] = format_datetime(e.now)
    msg["Message-ID"] = f"<{e.message_id}>"
    in_reply_to, refs = e.thread()
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    for name, value in _automatic(e):
        msg[name] = value
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes()


def _address(address: Address) -> str:
    if address.email.isascii():
        return formataddr((inert(address.name), address.email))
    local, _, domain = address.email.rpartition("@")
    return str(HeaderAddress(inert(address.name), local, domain))


MAX_LINE = 998  # RFC 5322 section 2.1.1, without the CRLF
FOLD_AT = 78


def _header(name: str, value: str) -> bytes:
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} may not contain linefeed or carriage return characters")
    if value.isascii() and len(name) + 2 + len(value) <= FOLD_AT:
        return f"{name}: {value}\r\n".encode("ascii")
    charset = "us-ascii" if value.isascii() else "utf-8"
    folded = Header(value, charset, maxlinelen=FOLD_AT, header_name=name).encode(linesep="\r\n")
    return f"{name}: {folded}\r\n".encode("ascii")


def _part(boundary: str, subtype: str, text: str) -> bytes:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    encoded = [line.encode("utf-8") for line in lines]
    payload = b"\r\n".join(encoded) + b"\r\n"
    if max(map(len, encoded), default=0) > MAX_LINE:
        cte = "base64"
        payload = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    else:
        cte = "7bit" if payload.isascii() else "8bit"
    head = (
        f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode("ascii") + payload + b"\r\n"  # this CRLF belongs to the boundary
