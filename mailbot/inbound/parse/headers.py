"""The header block: reject what is not a mail, repair raw 8-bit fields before parsing,
and read Message-IDs and the Date."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.header import Header
from email.utils import formataddr, parsedate_to_datetime
from typing import Any

from mailbot.inbound.parse.addresses import parse_address_list
from mailbot.inbound.parse.charset import FOLD, cp1252, decode_words
from mailbot.inbound.parse.errors import ParseError

# RFC 5322 §3.6.8: a field name is printable US-ASCII except the colon; §4.5 (obsolete
# syntax) allows white space before the colon.
_FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
# RFC 5322 §3.6: these fields may occur at most once.
SINGLE_FIELDS = frozenset(
    "date from sender reply-to to cc bcc message-id in-reply-to references subject".split()
)
_ADDRESS_FIELDS = frozenset(
    "from to cc bcc reply-to sender resent-from resent-to resent-cc resent-bcc resent-sender"
    " disposition-notification-to return-receipt-to mail-followup-to mail-reply-to".split()
)
# Unstructured fields (RFC 5322 §3.6.5) may carry RFC 2047 encoded-words anywhere. Other
# fields with raw 8-bit bytes (Content-Type with a filename, Received) are only transcoded
# to UTF-8: an encoded-word there would destroy their syntax.
_UNSTRUCTURED_FIELDS = frozenset({"subject", "comments", "keywords", "thread-topic"})
_MSG_ID = re.compile(r"<([^<>\s]+)>")


def check_is_mail(raw: bytes, defects: list[str]) -> bytes:
    """Reject what is not a mail at all; return the bytes with the header block starting."""
    if not raw or not raw.strip():
        raise ParseError("empty message")
    data = raw
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
        defects.append("blank lines before the header block removed")
    end = data.find(b"\n")
    first = data if end < 0 else data[:end]
    if first.startswith(b"From ") and end >= 0:
        # An mbox "From " separator line; the standard parser keeps it as the unixfrom.
        second_end = data.find(b"\n", end + 1)
        first = data[end + 1 :] if second_end < 0 else data[end + 1 : second_end]
    if _FIELD_LINE.match(first) is None:
        raise ParseError("no headers: not an RFC 5322 message")
    return data


def _repair_field(field_bytes: bytes, defects: list[str]) -> bytes:
    """Re-encode one header field that carries raw 8-bit bytes (RFC 5322 forbids them)."""
    if _FIELD_LINE.match(field_bytes) is None:
        return field_bytes  # not a header line; the parser will treat it as the body
    name_bytes, _, value = field_bytes.partition(b":")
    name = name_bytes.decode("ascii").strip()
    lname = name.lower()
    ending = b"\r\n" if value.endswith(b"\r\n") else b"\n" if value.endswith(b"\n") else b""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        # RFC 6532 allows raw UTF-8 in headers; anything else is a legacy 8-bit charset,
        # and for Dutch and French mail that is cp1252.
        text = cp1252(value)
        defects.append(f"undeclared 8-bit {name} header decoded as cp1252")
    text = " ".join(FOLD.sub("", text).split())
    if lname in _ADDRESS_FIELDS:
        addresses = parse_address_list(text, f"{name} header", defects)
        if addresses and all(a.email.isascii() for a in addresses):
            # formataddr turns a non-ASCII display name into an RFC 2047 word and keeps
            # the address itself readable for mail-parser.
            joined = ", ".join(formataddr((a.name, a.email), charset="utf-8") for a in addresses)
            return name_bytes + b": " + joined.encode("ascii") + ending
        return name_bytes + b": " + text.encode("utf-8") + ending
    if lname in _UNSTRUCTURED_FIELDS:
        text = decode_words(text, f"{name} header", defects)
        encoded = Header(text, "utf-8", header_name=name).encode(
            linesep="\r\n" if ending == b"\r\n" else "\n"
        )
        return name_bytes + b": " + encoded.encode("ascii") + ending
    return name_bytes + b": " + text.encode("utf-8") + ending


def header_end(data: bytes) -> int:
    """Offset of the empty line that ends the header block, or -1 (two plain finds: fast)."""
    crlf = data.find(b"\n\r\n")
    lf = data.find(b"\n\n", 0, crlf if crlf >= 0 else len(data))
    return lf if lf >= 0 else crlf


def repair_header_block(data: bytes, defects: list[str]) -> bytes:
    """Give mail-parser a header block it reads correctly; mail without 8-bit is untouched."""
    end = header_end(data)
    block, rest = (data[: end + 1], data[end + 1 :]) if end >= 0 else (data, b"")
    if block.isascii():
        return data
    fields: list[list[bytes]] = []
    for line in block.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    repaired: list[bytes] = []
    for lines in fields:
        joined = b"".join(lines)
        if joined.isascii():
            repaired.append(joined)
        else:
            repaired.append(_repair_field(joined, defects))
    return b"".join(repaired) + rest


def message_ids(value: str) -> tuple[str, ...]:
    """Ids without angle brackets; bare tokens are accepted when no <id> is present."""
    ids = _MSG_ID.findall(value)
    if not ids:
        ids = [token.strip("<>,;") for token in value.split()]
    return tuple(dict.fromkeys(i for i in ids if i))


def read_date(parser: Any, raw_value: str | None, defects: list[str]) -> datetime | None:
    if raw_value is None:
        defects.append("missing Date header")
        return None
    parsed = parser.date if parser is not None else None
    if isinstance(parsed, datetime) and parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    try:
        value = parsedate_to_datetime(raw_value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("unparsable Date header")
        return None
    if value.tzinfo is None:
        # RFC 5322 §3.3: "-0000" and a missing zone both say nothing about local time.
        defects.append("Date header without time zone: read as UTC")
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def synthetic_id(raw: bytes) -> str:
    return f"{hashlib.sha256(raw).hexdigest()[:32]}@mailbot.invalid"
