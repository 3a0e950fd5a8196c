"""Turn one raw mailbox message into an :class:`InboundMail`.

The mailbox receives real citizen mail: raw 8-bit headers in cp1252, charset labels that
lie, HTML-only mails from Outlook, multiparts that never close. The rules here:

* mail-parser (``mailparser.parse_from_bytes``) parses every message exactly once. Its
  MIME tree (a compat32 ``email.message.Message``), its address lists and its date are
  used; the body, the attachments and every decoded header are read from that same tree
  with the charset fallbacks below, because mail-parser decodes unknown charsets as UTF-8
  and drops what does not fit.
* Only when mail-parser raises or returns no headers does the standard library parse the
  message again. When that fails too, :class:`ParseError` says why.
* Every repair is written to ``InboundMail.defects`` in plain English, so a person can see
  why a mail looks the way it does.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.policy
import functools
import hashlib
import html as htmllib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import formataddr, parsedate_to_datetime
from typing import Any

import html2text
import mailparser
from mailparser.exceptions import MailParserRecursionError

from mailbot.domain.model import Address, Attachment, InboundMail

log = logging.getLogger(__name__)

__all__ = ["ParseError", "original_message_ids", "parse_mail"]


class ParseError(Exception):
    """The bytes are not a mail message. ``str(exc)`` is the reason, in English."""


# --- constants and precompiled patterns --------------------------------------------------

# RFC 5322 §3.6.8: a field name is printable US-ASCII except the colon; §4.5 (obsolete
# syntax) allows white space before the colon.
_FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
# Bytes 0x80-0x9F are C1 controls in ISO-8859-1 but printable (smart quotes, en dash, euro)
# in Windows-1252, which is what a mail labelled iso-8859-1 with such bytes really is.
_C1_BYTES = re.compile(rb"[\x80-\x9f]")
_C1_CHARS = re.compile("[\x80-\x9f]")
# RFC 2047 §2 encoded-word. The text part is allowed to contain spaces here because broken
# encoders emit them; it can never cross a "?" and so never swallows the next word.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
# RFC 5322 §2.2.3: unfolding removes a CRLF that is followed by white space.
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"\r\n?")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_QUOTED_PAIR = re.compile(r"\\(.)")  # RFC 5322 §3.2.1
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\",;:]+@[^\s<>()\[\]\",;:]+")
_GUESS_BOUNDARY = re.compile(rb"^--([^\s\"]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")
_BLANK_LINES = re.compile(r"\n[ \t\xa0]*\n(?:[ \t\xa0]*\n)+")
# What a browser never shows, as (opening, closing) markers for the tag-stripping fallback.
_HTML_INVISIBLE = (("<!--", "-->"), ("<style", "</style"), ("<script", "</script"))
_TRAILING_SPACE = re.compile(r"[ \t\xa0]+$", re.MULTILINE)
# html2text escapes Markdown at line starts ("1\.", "\-", "\+") and every backslash that
# precedes a Markdown character; staff read plain text, so undo exactly those escapes.
_MD_LINE_ESCAPE = re.compile(r"^(\s*)(\d+)\\\.(?=\s)|^(\s*)\\([-+])(?=[\s-])", re.MULTILINE)
_MD_BACKSLASH_ESCAPE = re.compile(r"\\\\(?=[\\`*_{}\[\]()#+\-.!])")
_BODY_MESSAGE_ID = re.compile(r"^[ \t>]*Message-I[Dd][ \t]*:[ \t]*<([^<>\s]+)>", re.MULTILINE)

# Compat32 is the policy mail-parser itself parses with, so the fallback tree has the same
# shape; a generator with max_line_length=0 never refolds headers when re-serialising.
_COMPAT32 = email.policy.compat32
_FLATTEN_POLICY = email.policy.compat32.clone(max_line_length=0)

# RFC 5322 §3.6: these fields may occur at most once.
_SINGLE_FIELDS = frozenset(
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
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})  # RFC 6532 §3.7
# Where a DSN puts the original message (RFC 3464 §2, RFC 6522 §3, RFC 6533 §6).
_ORIGINAL_TYPES = _MESSAGE_TYPES | {"text/rfc822-headers", "message/global-headers"}
_HEADER_PARSER = BytesHeaderParser(policy=email.policy.compat32)
# Codecs whose ASCII bytes do not mean ASCII text ("+AOk-" is "é" in UTF-7).
_WIDE_CODECS = frozenset("utf-7 utf-16 utf-16-le utf-16-be utf-32 utf-32-le utf-32-be".split())
# Codecs that exist in Python but are not charsets a mail can honestly declare.
_REFUSED_CODECS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode"})
_LATIN_CODECS = frozenset({"latin-1", "iso8859-1"})
_MAX_DEPTH = 50
_MAX_ERROR_TEXT = 200

# mail-parser's reading of the address fields, keyed by the lowercased field name.
_MP_ADDRESS_ATTRS = {"from": "from_", "to": "to", "cc": "cc", "reply-to": "reply_to"}
_FIELD_NAMES = {"from": "From", "to": "To", "cc": "Cc", "reply-to": "Reply-To"}


# --- charsets -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _resolve_charset(label: str | None) -> tuple[str, str]:
    """Classify a charset label once: (kind, codec name).

    kind is "none" (no label), "ascii", "latin" (read as cp1252, as the WHATWG Encoding
    Standard does for these labels), "unknown", or "codec". The cache is bounded because
    labels come from senders.
    """
    if not label:
        return "none", ""
    cleaned = label.strip().strip("\"'").split("*", 1)[0].strip().lower()
    if not cleaned:
        return "none", ""
    try:
        name = codecs.lookup(cleaned).name
        # Non-text codecs (base64, zlib) fail here; "undefined" raises UnicodeError.
        b"a".decode(name)
    except (LookupError, ValueError):
        return "unknown", ""
    if name in _REFUSED_CODECS:
        return "unknown", ""
    if name == "ascii":
        return "ascii", "ascii"
    if name in _LATIN_CODECS:
        return "latin", "cp1252"
    return "codec", name


def _printable_label(label: str) -> str:
    return "".join(ch for ch in label if " " < ch < "\x7f")[:40] or "?"


def _cp1252(data: bytes) -> str:
    return data.decode("cp1252", "replace")


def _decode_bytes(data: bytes, label: str | None, where: str, defects: list[str]) -> str:
    """Decode text whose charset label may be missing, wrong or unknown; never raises."""
    kind, codec = _resolve_charset(label)
    if codec not in _WIDE_CODECS and data.isascii():
        return data.decode("ascii")
    if kind in ("none", "ascii", "unknown"):
        # Undeclared 8-bit text is UTF-8 or cp1252 in practice; valid UTF-8 is very
        # unlikely to be cp1252 by accident, so UTF-8 is tried first.
        try:
            text = data.decode("utf-8")
            used = "utf-8"
        except UnicodeDecodeError:
            text = _cp1252(data)
            used = "cp1252"
        if kind == "unknown":
            defects.append(
                f"unknown charset {_printable_label(label or '')} in {where} decoded as {used}"
            )
        elif kind == "ascii":
            defects.append(f"8-bit {where} labelled us-ascii decoded as {used}")
        elif used == "cp1252":
            defects.append(f"undeclared 8-bit {where} decoded as cp1252")
        return text
    if kind == "latin":
        if _C1_BYTES.search(data):
            defects.append(
                f"windows-1252 {where} labelled {_printable_label(label or '')} decoded as cp1252"
            )
        return _cp1252(data)
    try:
        text = data.decode(codec)
        text.encode("utf-8")  # utf-16 and friends can yield lone surrogates
    except (UnicodeError, LookupError):
        if codec == "utf-8":
            defects.append(f"invalid utf-8 in {where} decoded as cp1252")
            return _cp1252(data)
        defects.append(f"invalid {codec} in {where}: undecodable bytes replaced")
        text = data.decode(codec, "replace")
        try:
            text.encode("utf-8")
        except UnicodeError:
            text = _cp1252(data)
    return text


def _unsurrogate(value: str, where: str, defects: list[str]) -> str:
    """Compat32 keeps raw 8-bit header bytes as lone surrogates; decode them properly."""
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return _decode_bytes(data, None, where, defects)


def _fix_c1(text: str) -> str:
    """Text decoded as ISO-8859-1 that holds C1 controls was really Windows-1252."""
    if _C1_CHARS.search(text) is None:
        return text
    try:
        return text.encode("latin-1").decode("cp1252", "replace")
    except UnicodeError:
        return text


# --- RFC 2047 encoded-words ----------------------------------------------------------------


def _word_bytes(encoding: str, text: str) -> tuple[bytes | None, bool]:
    """The octets of an encoded-word's text, and whether it had to be cut short."""
    data = text.encode("utf-8", "surrogateescape")
    if encoding not in "Bb":
        # RFC 2047 §4.2: "_" is a space and =XX an octet; a2b_qp(header=True) does both.
        return binascii.a2b_qp(data, header=True), False
    data = data.strip()
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4)), False
    except (binascii.Error, ValueError):
        pass
    # A truncated word (one stray character after the last full quantum): keep what
    # decodes, as mail clients do, rather than showing the raw word.
    try:
        return base64.b64decode(data[: len(data) - len(data) % 4]), True
    except (binascii.Error, ValueError):
        return None, True


def _decode_words(text: str, where: str, defects: list[str]) -> str:
    """Decode RFC 2047 encoded-words in any charset, falling back instead of failing."""
    if "=?" not in text:
        return text
    pieces: list[str | tuple[str, bytes]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        pos = match.end()
        # RFC 2047 §6.2: white space between adjacent encoded-words is not displayed.
        if gap and not (gap.isspace() and pieces and isinstance(pieces[-1], tuple)):
            pieces.append(gap)
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 §5 adds "*language"
        data, damaged = _word_bytes(match.group(2), match.group(3))
        if data is None:
            defects.append(f"undecodable encoded-word in {where} kept as is")
            pieces.append(match.group(0))
            continue
        if damaged:
            defects.append(f"truncated encoded-word in {where} partly decoded")
        previous = pieces[-1] if pieces else None
        # Encoders that split one multi-byte character over two words are common, so
        # adjacent words in the same charset are joined before decoding.
        if isinstance(previous, tuple) and previous[0].lower() == charset.lower():
            pieces[-1] = (previous[0], previous[1] + data)
        else:
            pieces.append((charset, data))
    pieces.append(text[pos:])
    return "".join(
        piece if isinstance(piece, str) else _decode_bytes(piece[1], piece[0], where, defects)
        for piece in pieces
    )


def _header_text(value: str, where: str, defects: list[str]) -> str:
    """A header value as a person reads it: 8-bit decoded, unfolded, words decoded."""
    text = _unsurrogate(value, where, defects)
    if "\n" in text:
        text = _FOLD.sub("", text)
    if "=?" in text:
        text = _decode_words(text, where, defects)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.strip()


# --- addresses -----------------------------------------------------------------------------


def _split_mailboxes(text: str) -> list[str]:
    """Split an address list on top-level commas, tolerating an unclosed "<"."""
    items: list[str] = []
    buf: list[str] = []
    quote = escape = angle = False
    paren = 0
    for ch in text:
        if escape:
            escape = False
        elif ch == "\\" and (quote or paren):
            escape = True
        elif quote:
            quote = ch != '"'
        elif paren:
            paren += {"(": 1, ")": -1}.get(ch, 0)
        elif ch == '"':
            quote = True
        elif ch == "(":
            paren = 1
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch in ",;" and (not angle or "@" in "".join(buf)):
            # A comma inside "<...@" means the ">" was never written: end the mailbox.
            items.append("".join(buf))
            buf = []
            angle = False
            continue
        elif ch == ":" and not angle:
            buf = []  # RFC 5322 §3.4 group: drop the display name of the group
            continue
        buf.append(ch)
    items.append("".join(buf))
    return [item for item in (i.strip() for i in items) if item]


def _clean_name(name: str, where: str, defects: list[str]) -> str:
    name = name.strip()
    if name.startswith("(") and name.endswith(")"):
        name = name[1:-1]
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = _QUOTED_PAIR.sub(r"\1", name[1:-1])
    name = name.replace('"', "")
    # Quoted encoded-words are not valid RFC 2047, but many clients write them.
    name = _fix_c1(_decode_words(name, where, defects))
    return " ".join(name.replace("\x00", "").split())


def _clean_email(addr: str) -> str | None:
    addr = addr.strip().strip("\"'<>").strip()
    if addr.lower().startswith("mailto:"):
        addr = addr[7:]
    addr = addr.lower()
    local, at, domain = addr.rpartition("@")
    # isprintable() rejects NUL and other controls (PostgreSQL text cannot hold NUL).
    if not at or not local or not domain or not addr.isprintable() or " " in addr:
        return None
    return addr


def _parse_mailbox(item: str, where: str, defects: list[str]) -> Address | None:
    lt = item.rfind("<")
    if lt >= 0 and "@" in item[lt:]:
        inner = item[lt + 1 :]
        gt = inner.find(">")
        addr = _clean_email(inner[:gt] if gt >= 0 else inner)
        name = item[:lt]
    else:
        match = _BARE_ADDRESS.search(item)
        if match is None:
            return None
        addr = _clean_email(match.group(0))
        name = (item[: match.start()] + item[match.end() :]).replace("<>", "")
    if addr is None:
        return None
    clean = _clean_name(name, where, defects)
    return Address(email=addr, name="" if clean.lower() == addr else clean)


def _parse_address_list(text: str, where: str, defects: list[str]) -> list[Address]:
    """Our own forgiving reading of an address field, for what mail-parser cannot read."""
    found: list[Address] = []
    for item in _split_mailboxes(text):
        address = _parse_mailbox(item, where, defects)
        if address is not None:
            found.append(address)
    return found


def _mp_addresses(value: Any, where: str, defects: list[str]) -> list[Address]:
    """mail-parser's address tuples as Addresses; anything malformed is skipped."""
    found: list[Address] = []
    if not isinstance(value, list):
        return found
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 2):
            continue
        name, addr = item
        if not isinstance(name, str) or not isinstance(addr, str):
            continue
        clean_addr = _clean_email(_unsurrogate(addr, where, defects))
        if clean_addr is None:
            continue
        clean_name = _clean_name(_unsurrogate(name, where, defects), where, defects)
        found.append(Address(clean_addr, "" if clean_name.lower() == clean_addr else clean_name))
    return found


# --- header block repair -------------------------------------------------------------------


def _check_is_mail(raw: bytes, defects: list[str]) -> bytes:
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
        text = _cp1252(value)
        defects.append(f"undeclared 8-bit {name} header decoded as cp1252")
    text = " ".join(_FOLD.sub("", text).split())
    if lname in _ADDRESS_FIELDS:
        addresses = _parse_address_list(text, f"{name} header", defects)
        if addresses and all(a.email.isascii() for a in addresses):
            # formataddr turns a non-ASCII display name into an RFC 2047 word and keeps
            # the address itself readable for mail-parser.
            joined = ", ".join(formataddr((a.name, a.email), charset="utf-8") for a in addresses)
            return name_bytes + b": " + joined.encode("ascii") + ending
        return name_bytes + b": " + text.encode("utf-8") + ending
    if lname in _UNSTRUCTURED_FIELDS:
        text = _decode_words(text, f"{name} header", defects)
        encoded = Header(text, "utf-8", header_name=name).encode(
            linesep="\r\n" if ending == b"\r\n" else "\n"
        )
        return name_bytes + b": " + encoded.encode("ascii") + ending
    return name_bytes + b": " + text.encode("utf-8") + ending


def _header_end(data: bytes) -> int:
    """Offset of the empty line that ends the header block, or -1 (two plain finds: fast)."""
    crlf = data.find(b"\n\r\n")
    lf = data.find(b"\n\n", 0, crlf if crlf >= 0 else len(data))
    return lf if lf >= 0 else crlf


def _repair_header_block(data: bytes, defects: list[str]) -> bytes:
    """Give mail-parser a header block it reads correctly; mail without 8-bit is untouched."""
    end = _header_end(data)
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


# --- parsing the tree ----------------------------------------------------------------------


def _short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_TEXT]


def _parse_tree(data: bytes, raw: bytes, defects: list[str]) -> tuple[Message, Any]:
    """mail-parser first; the standard library only where mail-parser fails."""
    parser: Any = None
    try:
        parser = mailparser.parse_from_bytes(data)
    except MailParserRecursionError as exc:
        # Its RecursionError guard: the standard library would recurse just as deep.
        raise ParseError("MIME structure nested too deeply to parse") from exc
    except Exception as exc:  # a third-party parser on hostile input: any bug may surface
        # Hostile mail triggers known mail-parser bugs (a truncated base64 word in From
        # raises HeaderParseError in 4.8.0): one line at WARNING, the traceback at DEBUG.
        log_id = hashlib.sha256(raw).hexdigest()[:12]
        log.warning(
            "mail sha256:%s: mail-parser failed (%s); using the standard library",
            log_id,
            type(exc).__name__,
        )
        log.debug("mail sha256:%s: mail-parser traceback", log_id, exc_info=True)
        defects.append(f"mail-parser failed: {_short_error(exc)}; used the standard library")
        parser = None
    if parser is not None:
        message = parser.message
        if isinstance(message, Message) and len(message) > 0:
            return message, parser
        defects.append("mail-parser returned no headers; used the standard library")
        parser = None
    try:
        message = email.message_from_bytes(data, policy=_COMPAT32)
    except RecursionError as exc:
        raise ParseError("MIME structure nested too deeply to parse") from exc
    except (ValueError, LookupError, TypeError, IndexError) as exc:
        raise ParseError(f"the standard library cannot parse it: {_short_error(exc)}") from exc
    if len(message) == 0:
        raise ParseError("no headers: not an RFC 5322 message")
    return message, None


_DEFECT_TEXT = {
    "CloseBoundaryNotFoundDefect": "multipart without closing boundary",
    "StartBoundaryNotFoundDefect": "multipart boundary not found in the body",
    "NoBoundaryInMultipartDefect": "multipart without boundary parameter",
    "MissingHeaderBodySeparatorDefect": "header line without colon: the rest is read as body",
    "FirstHeaderLineIsContinuationDefect": "first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "misplaced mbox From line",
    "InvalidBase64PaddingDefect": "base64 padding repaired",
    "InvalidBase64CharactersDefect": "invalid characters in base64 ignored",
    "InvalidBase64LengthDefect": "base64 of impossible length",
    "InvalidMultipartContentTransferEncodingDefect": "multipart with encoded transfer encoding",
}


def _part_defects(part: Message, ctype: str, defects: list[str]) -> None:
    """What the standard parser repaired in this part, in words."""
    for defect in part.defects:
        kind = type(defect).__name__
        if kind != "MultipartInvariantViolationDefect":  # always follows a boundary defect
            defects.append(f"{_DEFECT_TEXT.get(kind, kind)} ({ctype})")


# --- body and attachments ------------------------------------------------------------------


@dataclass
class _Parts:
    plain: list[str] = field(default_factory=list)
    # HTML and named inline text are decoded only when no text/plain body exists.
    html: list[Message] = field(default_factory=list)
    named_inline_text: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[Message] = field(default_factory=list)


def _flatten(message: Message) -> bytes:
    """Serialise a parsed (sub)message back to bytes, 8-bit content kept as it came."""
    try:
        return message.as_bytes(policy=_FLATTEN_POLICY)
    except (LookupError, UnicodeError, ValueError, TypeError):
        # A part whose charset refuses re-encoding: write its raw headers and payload.
        head = "".join(f"{name}: {value}\n" for name, value in message.raw_items())
        payload = message.get_payload()
        if isinstance(payload, list):
            body = b"".join(_flatten(sub) for sub in payload if isinstance(sub, Message))
        else:
            body = str(payload).encode("utf-8", "surrogateescape")
        return head.encode("utf-8", "surrogateescape") + b"\n" + body


def _body_bytes(part: Message) -> bytes:
    """The body of a part without its own headers (message/delivery-status and the like)."""
    flat = _flatten(part)
    end = _header_end(flat)
    return flat[end:].lstrip(b"\r\n") if end >= 0 else b""


def _filename(part: Message, defects: list[str]) -> str | None:
    """The decoded filename: RFC 2231 parameters, RFC 2047 words, raw 8-bit, or name=."""
    try:
        raw_name = part.get_filename() or part.get_param("name")
    except (ValueError, LookupError, TypeError, IndexError):
        return None
    if isinstance(raw_name, tuple):  # an RFC 2231 triple get_param did not collapse
        raw_name = email.utils.collapse_rfc2231_value(raw_name)
    if not isinstance(raw_name, str):
        return None
    text = _header_text(raw_name, "attachment filename", defects)
    # Some clients send the whole path ("C:\Users\...\foto.jpg"); only the name matters.
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if ch >= " " and ch != "\x7f").strip()
    return text or None


def _part_text(part: Message, where: str, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return _decode_bytes(payload, part.get_content_charset(), where, defects)


def _message_attachment(part: Message, parent_type: str, parts: _Parts, defects: list[str]) -> None:
    """Keep a message/rfc822 part (a forwarded mail, or a bounced original) as a .eml."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    content = b""
    if isinstance(inner, Message):
        content = _flatten(inner)
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
                inner = email.message_from_bytes(content, policy=_COMPAT32)
        parts.forwarded.append(inner)
    elif isinstance(payload, str):
        content = payload.encode("utf-8", "surrogateescape")
    default = (
        "original-message.eml" if parent_type == "multipart/report" else "forwarded-message.eml"
    )
    name = _filename(part, defects) or default
    parts.attachments.append(Attachment(name, "message/rfc822", content))


def _recover_multipart(part: Message, parts: _Parts, depth: int, defects: list[str]) -> None:
    """A multipart the parser could not split: guess the boundary, else keep it as text."""
    payload = part.get_payload()
    data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    match = _GUESS_BOUNDARY.search(data)
    if match is not None:
        head = b"Content-Type: " + _content_type(part).encode("ascii") + b'; boundary="'
        try:
            reparsed = email.message_from_bytes(
                head + match.group(1) + b'"\n\n' + data, policy=_COMPAT32
            )
        except (ValueError, LookupError, TypeError, IndexError, RecursionError):
            reparsed = None
        if reparsed is not None and reparsed.is_multipart():
            defects.append(f"{_content_type(part)} split on a boundary guessed from the body")
            _walk(reparsed, parts, "", depth + 1, defects)
            return
    text = _decode_bytes(data, part.get_content_charset(), "unsplittable multipart", defects)
    if text.strip():
        defects.append(f"{_content_type(part)} without usable boundary read as plain text")
        parts.plain.append(text)


def _content_type(part: Message) -> str:
    """The part's media type; RFC 2045 §5.1 allows only ASCII tokens, so 8-bit is junk."""
    ctype = part.get_content_type()
    return ctype if ctype.isascii() and ctype.isprintable() else "application/octet-stream"


def _walk(part: Message, parts: _Parts, parent_type: str, depth: int, defects: list[str]) -> None:
    if depth > _MAX_DEPTH:
        defects.append("MIME structure deeper than 50 levels: the rest is ignored")
        return
    ctype = _content_type(part)
    maintype, _, subtype = ctype.partition("/")
    if part.defects:
        _part_defects(part, ctype, defects)
    if ctype in _MESSAGE_TYPES:
        _message_attachment(part, parent_type, parts, defects)
        return
    if part.is_multipart():
        if maintype == "message":
            # message/delivery-status (RFC 3464) and friends: the parser split the body into
            # header blocks; keep the body whole, as one attachment.
            name = _filename(part, defects) or f"attachment-{len(parts.attachments) + 1}"
            parts.attachments.append(Attachment(name, ctype, _body_bytes(part)))
            return
        for sub in part.get_payload():
            if isinstance(sub, Message):
                _walk(sub, parts, ctype, depth + 1, defects)
        return
    if maintype == "multipart":
        _recover_multipart(part, parts, depth, defects)
        return
    filename = _filename(part, defects)
    if maintype == "text" and subtype in ("plain", "html"):
        disposition = part.get_content_disposition()
        if filename is None and disposition != "attachment":
            if subtype == "plain":
                parts.plain.append(_part_text(part, "text/plain part", defects))
            else:
                parts.html.append(part)
            return
        if disposition == "inline":
            parts.named_inline_text.append(part)  # a body some clients give a filename
    content = part.get_payload(decode=True)
    parts.attachments.append(
        Attachment(
            filename or f"attachment-{len(parts.attachments) + 1}",
            ctype,
            content if isinstance(content, bytes) else b"",
        )
    )


def _strip_tags(html: str) -> str:
    """Text of an HTML document without a parser, in one linear pass (hostile input)."""
    lower = html.lower()
    out: list[str] = []
    pos = 0
    while (start := html.find("<", pos)) >= 0:
        out.append(html[pos:start])
        closer = next((c for o, c in _HTML_INVISIBLE if lower.startswith(o, start)), ">")
        end = lower.find(closer, start + 1)
        if end < 0:
            return "".join(out)  # an unclosed tag or comment hides the rest, as in a browser
        gt = html.find(">", end)
        pos = gt + 1 if gt >= 0 else len(html)
        out.append(" ")
    out.append(html[pos:])
    return "".join(out)


def _html_to_text(html: str, defects: list[str]) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: staff read it in a wide view
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True  # keep "é" and "–" instead of ASCII look-alikes
    converter.inline_links = True  # [text](url) in place, no numbered reference list
    try:
        text = str(converter.handle(html))
    except Exception:  # hostile HTML reaches html.parser, which is not hardened for it
        # Python 3.11's html.parser raises AssertionError on a malformed "<![...]>"
        # marked section; a mail must still yield its words, so strip the tags instead.
        log.debug("html2text failed; stripping tags", exc_info=True)
        defects.append("HTML could not be converted: tags stripped")
        text = _strip_tags(html)
        text = _BLANK_LINES.sub("\n\n", htmllib.unescape(text))
    else:
        text = _MD_LINE_ESCAPE.sub(lambda m: f"{m[1]}{m[2]}." if m[2] else f"{m[3]}{m[4]}", text)
        text = _MD_BACKSLASH_ESCAPE.sub(r"\\", text)
    text = _TRAILING_SPACE.sub("", text)
    return _BLANK_RUNS.sub("\n\n", text)


def _normalise_text(text: str) -> str:
    if "\r" in text:
        text = _LINE_BREAKS.sub("\n", text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.lstrip("\n").rstrip()


def _body_text(parts: _Parts, defects: list[str]) -> str:
    """The text/plain parts; else the HTML as text; else named inline text parts."""
    plain = [text for text in parts.plain if text.strip()]
    if plain:
        return "\n\n".join(_normalise_text(text) for text in plain)
    html = [_part_text(part, "text/html part", defects) for part in parts.html]
    html = [text for text in html if text.strip()]
    if html:
        return _normalise_text(_html_to_text("\n".join(html), defects))
    for part in parts.named_inline_text:
        text = _part_text(part, f"{_content_type(part)} part", defects)
        if text.strip():
            if part.get_content_subtype() == "html":
                text = _html_to_text(text, defects)
            return _normalise_text(text)
    return ""


# --- headers -------------------------------------------------------------------------------


def _message_ids(value: str) -> tuple[str, ...]:
    """Ids without angle brackets; bare tokens are accepted when no <id> is present."""
    ids = _MSG_ID.findall(value)
    if not ids:
        ids = [token.strip("<>,;") for token in value.split()]
    return tuple(dict.fromkeys(i for i in ids if i))


def _date(parser: Any, raw_value: str | None, defects: list[str]) -> datetime | None:
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


def _synthetic_id(raw: bytes) -> str:
    return f"{hashlib.sha256(raw).hexdigest()[:32]}@mailbot.invalid"


def _mp_doubts(parser: Any, lname: str) -> bool:
    """Whether mail-parser reported the first occurrence of a field as (partly) unreadable."""
    reports = parser.address_header_defects
    if not isinstance(reports, list):
        return False
    return any(
        isinstance(report, dict)
        and report.get("header") == lname
        and report.get("occurrence") == 0
        and not report.get("recovered")
        for report in reports
    )


def _addresses(
    parser: Any, lname: str, raw_value: str | None, defects: list[str]
) -> tuple[Address, ...]:
    """mail-parser's addresses; ours where it found none or said it skipped some."""
    if raw_value is None:
        return ()
    name = _FIELD_NAMES[lname]
    where = f"{name} header"
    found: list[Address] = []
    if parser is not None:
        found = _mp_addresses(getattr(parser, _MP_ADDRESS_ATTRS[lname]), where, defects)
        if found and not _mp_doubts(parser, lname):
            return tuple(found)
    if "@" in raw_value:
        text = _FOLD.sub("", _unsurrogate(raw_value, where, defects))
        recovered = _parse_address_list(text, where, defects)
        if len(recovered) > len(found):
            if parser is not None:
                defects.append(f"malformed {name} header: addresses recovered")
            found = recovered
    return tuple(found)


# --- the entry points ----------------------------------------------------------------------


def parse_mail(raw: bytes) -> InboundMail:
    """Parse one raw message (as fetched with ``BODY.PEEK[]``) into an InboundMail.

    Raises ParseError when the bytes are not a mail message at all.
    """
    defects: list[str] = []
    data = _check_is_mail(raw, defects)
    data = _repair_header_block(data, defects)
    message, parser = _parse_tree(data, raw, defects)

    headers: list[tuple[str, str]] = []
    first_raw: dict[str, str] = {}
    first_text: dict[str, str] = {}
    counts: dict[str, int] = {}
    spelling: dict[str, str] = {}
    for name, value in message.raw_items():
        raw_value = str(value)
        lname = name.lower()
        text = _header_text(raw_value, f"{name} header", defects)
        headers.append((name, text))
        counts[lname] = counts.get(lname, 0) + 1
        first_raw.setdefault(lname, raw_value)
        spelling.setdefault(lname, name)
        first_text.setdefault(lname, text)
    for lname, count in counts.items():
        if count > 1 and lname in _SINGLE_FIELDS:
            defects.append(f"repeated {spelling[lname]} header ({count} times): the first is used")

    message_id = ""
    if "message-id" in first_text:
        ids = _message_ids(first_text["message-id"])
        message_id = ids[0] if ids else ""
        if not message_id:
            defects.append("empty Message-ID header: an id was synthesised")
    else:
        defects.append("missing Message-ID: an id was synthesised")
    if not message_id:
        message_id = _synthetic_id(raw)

    addresses = {
        lname: _addresses(parser, lname, first_raw.get(lname), defects)
        for lname in _MP_ADDRESS_ATTRS
    }
    if "from" not in first_raw:
        defects.append("missing From header")

    parts = _Parts()
    _walk(message, parts, "", 0, defects)
    body = _body_text(parts, defects)
    if not body:
        # A mail that only forwards another one: its text is what staff need to read.
        for inner in parts.forwarded:
            inner_parts = _Parts()
            _walk(inner, inner_parts, "", 1, defects)
            body = _body_text(inner_parts, defects)
            if body:
                break

    date = _date(parser, first_raw.get("date"), defects)
    unique_defects = tuple(dict.fromkeys(defects))
    if unique_defects:
        log.debug("mail %s: %d repairs", message_id, len(unique_defects))
    return InboundMail(
        sender=addresses["from"][0] if addresses["from"] else None,
        reply_to=addresses["reply-to"],
        to=addresses["to"],
        cc=addresses["cc"],
        subject=" ".join(first_text.get("subject", "").split()),
        date=date,
        message_id=message_id,
        in_reply_to=_message_ids(first_text.get("in-reply-to", "")),
        references=_message_ids(first_text.get("references", "")),
        body_text=body,
        attachments=tuple(parts.attachments),
        headers=tuple(headers),
        defects=unique_defects,
    )


def original_message_ids(mail_or_raw: InboundMail | bytes) -> list[str]:
    """Message-IDs (without angle brackets) of the original quoted in a bounce.

    Meant for a bounce: a DSN (RFC 3464) carries the original in a message/rfc822 or a
    text/rfc822-headers part (RFC 6522 §3); older bounces quote it as text, so the body's
    "Message-ID: <...>" lines are the fallback. The bounce's own id is never returned.
    Raises ParseError when given bytes that are not a mail.
    """
    if isinstance(mail_or_raw, InboundMail):
        mail = mail_or_raw
    else:
        mail = parse_mail(bytes(mail_or_raw))
    found: list[str] = []
    for attachment in mail.attachments:
        if attachment.content_type in _ORIGINAL_TYPES:
            head = _HEADER_PARSER.parsebytes(attachment.content)
            value = head.get("Message-ID")
            if value is not None:
                found.extend(_message_ids(_header_text(str(value), "Message-ID", []))[:1])
    if not found:
        found = _BODY_MESSAGE_ID.findall(mail.body_text)
    return [i for i in dict.fromkeys(found) if i != mail.message_id]
