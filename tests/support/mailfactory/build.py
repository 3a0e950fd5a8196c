"""The ordinary builder, and what the hand-written cases share."""

from __future__ import annotations

import base64
import email.policy
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

MAILBOX = "klachten@stad.example.be"

# A tiny but real PDF and JPEG header, so size and content assertions mean something.
PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
JPEG_BYTES = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + bytes(range(256)) * 3


def crlf(text: bytes) -> bytes:
    """Hand-written mails are written with LF; IMAP hands them over with CRLF."""
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def complaint(
    sender_name: str,
    sender_email: str,
    subject: str,
    body: str,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    date: datetime | None = None,
) -> bytes:
    """An ordinary, well-formed complaint mail (UTF-8 text/plain, CRLF).

    ``message_id`` and ``in_reply_to`` are given without angle brackets.
    """
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, sender_email))
    msg["To"] = MAILBOX
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.fromisoformat("2026-03-02T09:15:00+01:00"))
    msg["Message-ID"] = f"<{message_id or 'complaint-1@mail.example.be'}>"
    if in_reply_to is not None:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)
