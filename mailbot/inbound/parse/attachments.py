"""Attachments: a part's filename, its bytes, and forwarded or bounced messages as .eml.

Compat32 is the policy mail-parser itself parses with, so every tree has the same shape; a
generator with max_line_length=0 never refolds headers when re-serialising a part.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
from email.message import Message

from mailbot.domain.model import Attachment
from mailbot.inbound.parse.charset import header_text
from mailbot.inbound.parse.repair import header_end

COMPAT32 = email.policy.compat32
_FLATTEN_POLICY = email.policy.compat32.clone(max_line_length=0)


def flatten(message: Message) -> bytes:
    """Serialise a parsed (sub)message back to bytes, 8-bit content kept as it came."""
    try:
        return message.as_bytes(policy=_FLATTEN_POLICY)
    except (LookupError, UnicodeError, ValueError, TypeError):
        # A part whose charset refuses re-encoding: write its raw headers and payload.
        head = "".join(f"{name}: {value}\n" for name, value in message.raw_items())
        payload = message.get_payload()
        if isinstance(payload, list):
            body = b"".join(flatten(sub) for sub in payload if isinstance(sub, Message))
        else:
            body = str(payload).encode("utf-8", "surrogateescape")
        return head.encode("utf-8", "surrogateescape") + b"\n" + body


def body_bytes(part: Message) -> bytes:
    """The body of a part without its own headers (message/delivery-status and the like)."""
    flat = flatten(part)
    end = header_end(flat)
    return flat[end:].lstrip(b"\r\n") if end >= 0 else b""


def part_filename(part: Message, defects: list[str]) -> str | None:
    """The decoded filename: RFC 2231 parameters, RFC 2047 words, raw 8-bit, or name=."""
    try:
        raw_name = part.get_filename() or part.get_param("name")
    except (ValueError, LookupError, TypeError, IndexError):
        return None
    if isinstance(raw_name, tuple):  # an RFC 2231 triple get_param did not collapse
        raw_name = email.utils.collapse_rfc2231_value(raw_name)
    if not isinstance(raw_name, str):
        return None
    text = header_text(raw_name, "attachment filename", defects)
    # Some clients send the whole path ("C:\Users\...\foto.jpg"); only the name matters.
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if ch >= " " and ch != "\x7f").strip()
    return text or None


def message_attachment(
    part: Message, parent_type: str, defects: list[str]
) -> tuple[Attachment, Message | None]:
    """A message/rfc822 part (a forwarded mail, or a bounced original) as a .eml, and the
    message inside it when there is one."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    content = b""
    if isinstance(inner, Message):
        content = flatten(inner)
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if cte in ("base64", "quoted-printable"):
            # RFC 2046 §5.2.1 forbids encoding message/rfc822, but gateways do it; the
            # standard parser then parsed the encoded text as a message. Decode it instead.
            encoded = content.lstrip(b"\r\n")
            try:
                content = base64.b64decode(encoded) if cte == "base64" else binascii.a2b_qp(encoded)
            except (binascii.Error, ValueError):
                defects.append("undecodable encoded message/rfc822 part kept as is")
            else:
                defects.append(f"{cte}-encoded message/rfc822 part decoded (RFC 2046 §5.2.1)")
                inner = email.message_from_bytes(content, policy=COMPAT32)
    elif isinstance(payload, str):
        content = payload.encode("utf-8", "surrogateescape")
    default = (
        "original-message.eml" if parent_type == "multipart/report" else "forwarded-message.eml"
    )
    name = part_filename(part, defects) or default
    return Attachment(name, "message/rfc822", content), (
        inner if isinstance(inner, Message) else None
    )
