"""Turn rendered texts into complete RFC 5322 messages with the headers that keep
mail clients threading and keep other robots from answering us."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
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
    """A multipart/alternative mail (text, then HTML), as bytes with CRLF line ends.

    Written directly rather than with email.message.EmailMessage: its header registry
    and generator took about 6 ms a mail, the largest single cost of intake (bench/
    README.md). Headers are RFC 2047-encoded when not ASCII and folded when long; each
    part is 7bit or 8bit, or base64 when a line is longer than RFC 5322 allows."""
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    headers = [
        ("From", formataddr((sender.name, sender.email))),
        ("To", ", ".join(formataddr((a.name, a.email)) for a in to)),
        *([("Reply-To", formataddr((reply_to.name, reply_to.email)))] if reply_to else []),
        ("Subject", rendered.subject),
        ("Date", format_datetime(now)),
        ("Message-ID", f"<{message_id}>"),
        *([("In-Reply-To", f"<{in_reply_to}>")] if in_reply_to else []),
        *([("References", " ".join(f"<{r}>" for r in refs))] if refs else []),
        # RFC 3834 section 5: mark our mail as automatic so that well-behaved responders
        # stay silent; X-Auto-Response-Suppress does the same for Exchange / Outlook.
        ("Auto-Submitted", auto_submitted),
        ("X-Auto-Response-Suppress", "All"),
        ("Content-Language", "nl-BE"),
        *extra_headers,
    ]
    boundary = f"=_mailbot_{secrets.token_hex(16)}"
    content = b"".join(
        [
            *(_header(name, value) for name, value in headers),
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'.encode(),
            _part(boundary, "plain", rendered.text),
            _part(boundary, "html", rendered.html),
            f"--{boundary}--\r\n".encode(),
        ]
    )
    return ComposedMail(
        message_id=message_id,
        recipients=tuple(a.email for a in to),
        subject=rendered.subject,
        content=content,
    )


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
