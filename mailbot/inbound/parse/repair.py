"""Repair the header block before parsing: reject what is not a mail, skip what comes
before the headers, and re-encode fields that carry raw 8-bit or ISO-2022 bytes, so that
mail-parser and the standard library read every field."""

from __future__ import annotations

import codecs
import re
from email.header import Header
from email.utils import formataddr

from mailbot.inbound.parse.addresses import parse_address_list
from mailbot.inbound.parse.charset import FOLD, cp1252, decode_escapes, decode_words
from mailbot.inbound.parse.errors import ParseError

# RFC 5322 §3.6.8: a field name is printable US-ASCII except the colon; §4.5 (obsolete
# syntax) allows white space before the colon.
_FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_ADDRESS_FIELDS = frozenset(
    "from to cc bcc reply-to sender resent-from resent-to resent-cc resent-bcc resent-sender"
    " disposition-notification-to return-receipt-to mail-followup-to mail-reply-to".split()
)
# Unstructured fields (RFC 5322 §3.6.5) may carry RFC 2047 encoded-words anywhere. Other
# fields with raw 8-bit bytes (Content-Type with a filename, Received) are only transcoded
# to UTF-8: an encoded-word there would destroy their syntax.
_UNSTRUCTURED_FIELDS = frozenset({"subject", "comments", "keywords", "thread-topic"})
# Lines of only white space before the first field (seen from webmail gateways).
_LEADING_BLANK_LINES = re.compile(rb"(?:[ \t]*\r?\n)+")
# RFC 5322 §4.5 (obs-optional and the obs-* fields): white space before the colon. The
# standard parser would take such a line for the start of the body.
_OBSOLETE_COLON = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]+:", re.MULTILINE)
# RFC 2047 §2 encoded-word, on bytes: here to find raw 8-bit octets inside one.
_ENCODED_WORD_BYTES = re.compile(rb"=\?[^?\s]+\?[QqBb]\?[^?]*\?=")


def check_is_mail(raw: bytes, defects: list[str]) -> bytes:
    """Reject what is not a mail at all; return the bytes with the header block starting."""
    if not raw or not raw.strip():
        raise ParseError("empty message")
    data = raw
    if data.startswith(codecs.BOM_UTF8):
        # RFC 3629 §6: a byte-order mark is no part of a mail; Windows tools write one.
        data = data[len(codecs.BOM_UTF8) :]
        defects.append("UTF-8 byte-order mark before the header block removed")
    leading = _LEADING_BLANK_LINES.match(data)
    if leading is not None:
        # Python's parser reads a line of spaces as an empty continuation line and goes
        # on with the headers; so do we, without the empty line.
        data = data[leading.end() :]
        defects.append("blank lines before the header block removed")
    end = data.find(b"\n")
    first = data if end < 0 else data[:end]
    if first.startswith(b"From ") and end >= 0 and _FIELD_LINE.match(first) is None:
        # An mbox "From " separator line (RFC 4155); the standard parser keeps it as the
        # unixfrom. "From : x" is an obsolete From field instead (RFC 5322 §4.5).
        second_end = data.find(b"\n", end + 1)
        first = data[end + 1 :] if second_end < 0 else data[end + 1 : second_end]
    if _FIELD_LINE.match(first) is None:
        raise ParseError("no headers: not an RFC 5322 message")
    return data


def _field_text(value: bytes, name: str, defects: list[str]) -> str:
    """A field's value as text: ISO-2022 escapes, UTF-8 (RFC 6532), else cp1252."""
    if value.isascii():
        return decode_escapes(value.decode("ascii"), f"{name} header", defects)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        # RFC 6532 allows raw UTF-8 in headers; anything else is a legacy 8-bit charset,
        # and for Dutch and French mail that is cp1252.
        defects.append(f"undeclared 8-bit {name} header decoded as cp1252")
        return cp1252(value)


def _words_kept(value: bytes, name: str, defects: list[str]) -> str:
    """Like _field_text, but raw 8-bit octets inside an encoded-word stay octets (as lone
    surrogates), so that the word is later decoded once, in the charset it names."""
    words = list(_ENCODED_WORD_BYTES.finditer(value))
    if not any(not word.group(0).isascii() for word in words):
        return _field_text(value, name, defects)
    defects.append(f"raw 8-bit bytes inside an encoded-word in {name} header (RFC 2047 §5)")
    pieces: list[str] = []
    pos = 0
    for word in words:
        pieces.append(_field_text(value[pos : word.start()], name, defects))
        pieces.append(word.group(0).decode("ascii", "surrogateescape"))
        pos = word.end()
    pieces.append(_field_text(value[pos:], name, defects))
    return "".join(pieces)


def _repair_field(field_bytes: bytes, defects: list[str]) -> bytes:
    """Re-encode one header field that carries raw 8-bit bytes (RFC 5322 forbids them)."""
    if _FIELD_LINE.match(field_bytes) is None:
        return field_bytes  # not a header line; the parser will treat it as the body
    name_bytes, _, value = field_bytes.partition(b":")
    name = name_bytes.decode("ascii").strip()
    lname = name.lower()
    ending = b"\r\n" if value.endswith(b"\r\n") else b"\n" if value.endswith(b"\n") else b""
    if lname in _ADDRESS_FIELDS or lname in _UNSTRUCTURED_FIELDS:
        text = _words_kept(value, name, defects)
    else:
        text = _field_text(value, name, defects)
    text = " ".join(FOLD.sub("", text).split())
    if lname in _ADDRESS_FIELDS:
        addresses = parse_address_list(text, f"{name} header", defects)
        if addresses and all(a.email.isascii() for a in addresses):
            # formataddr turns a non-ASCII display name into an RFC 2047 word and keeps
            # the address itself readable for mail-parser.
            joined = ", ".join(formataddr((a.name, a.email), charset="utf-8") for a in addresses)
            return name_bytes + b": " + joined.encode("ascii") + ending
        return name_bytes + b": " + text.encode("utf-8", "surrogateescape") + ending
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
    """Give mail-parser a header block it reads correctly; plain 7-bit mail is untouched."""
    end = header_end(data)
    block, rest = (data[: end + 1], data[end + 1 :]) if end >= 0 else (data, b"")
    block, count = _OBSOLETE_COLON.subn(rb"\1:", block)
    if count:
        defects.append("white space before a header colon removed (RFC 5322 §4.5)")
        data = block + rest
    if block.isascii() and b"\x1b" not in block:
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
        if joined.isascii() and b"\x1b" not in joined:
            repaired.append(joined)
        else:
            repaired.append(_repair_field(joined, defects))
    return b"".join(repaired) + rest
