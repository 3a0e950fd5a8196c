"""The MIME tree: parse once with mail-parser (the standard library only when it fails),
then walk the tree into plain parts, HTML parts, attachments and forwarded messages."""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import mailparser
from mailparser.exceptions import MailParserRecursionError

from mailbot.domain.model import Attachment
from mailbot.inbound.parse.attachments import (
    COMPAT32,
    body_bytes,
    message_attachment,
    part_filename,
)
from mailbot.inbound.parse.charset import decode_bytes, part_text
from mailbot.inbound.parse.errors import ParseError

log = logging.getLogger(__name__)

_GUESS_BOUNDARY = re.compile(rb"^--([^\s\"]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})  # RFC 6532 §3.7
_MAX_DEPTH = 50
_MAX_ERROR_TEXT = 200


def _short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_TEXT]


def parse_tree(data: bytes, raw: bytes, defects: list[str]) -> tuple[Message, Any]:
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
        message = email.message_from_bytes(data, policy=COMPAT32)
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


@dataclass
class Parts:
    plain: list[str] = field(default_factory=list)
    # HTML and named inline text are decoded only when no text/plain body exists.
    html: list[Message] = field(default_factory=list)
    named_inline_text: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[Message] = field(default_factory=list)


def _recover_multipart(part: Message, parts: Parts, depth: int, defects: list[str]) -> None:
    """A multipart the parser could not split: guess the boundary, else keep it as text."""
    payload = part.get_payload()
    data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    match = _GUESS_BOUNDARY.search(data)
    if match is not None:
        head = b"Content-Type: " + content_type(part).encode("ascii") + b'; boundary="'
        try:
            reparsed = email.message_from_bytes(
                head + match.group(1) + b'"\n\n' + data, policy=COMPAT32
            )
        except (ValueError, LookupError, TypeError, IndexError, RecursionError):
            reparsed = None
        if reparsed is not None and reparsed.is_multipart():
            defects.append(f"{content_type(part)} split on a boundary guessed from the body")
            walk(reparsed, parts, "", depth + 1, defects)
            return
    text = decode_bytes(data, part.get_content_charset(), "unsplittable multipart", defects)
    if text.strip():
        defects.append(f"{content_type(part)} without usable boundary read as plain text")
        parts.plain.append(text)


def content_type(part: Message) -> str:
    """The part's media type; RFC 2045 §5.1 allows only ASCII tokens, so 8-bit is junk."""
    ctype = part.get_content_type()
    return ctype if ctype.isascii() and ctype.isprintable() else "application/octet-stream"


def walk(part: Message, parts: Parts, parent_type: str, depth: int, defects: list[str]) -> None:
    if depth > _MAX_DEPTH:
        defects.append("MIME structure deeper than 50 levels: the rest is ignored")
        return
    ctype = content_type(part)
    maintype, _, subtype = ctype.partition("/")
    if part.defects:
        _part_defects(part, ctype, defects)
    if ctype in MESSAGE_TYPES:
        attachment, inner = message_attachment(part, parent_type, defects)
        if inner is not None:
            parts.forwarded.append(inner)
        parts.attachments.append(attachment)
        return
    if part.is_multipart():
        if maintype == "message":
            # message/delivery-status (RFC 3464) and friends: the parser split the body into
            # header blocks; keep the body whole, as one attachment.
            name = part_filename(part, defects) or f"attachment-{len(parts.attachments) + 1}"
            parts.attachments.append(Attachment(name, ctype, body_bytes(part)))
            return
        for sub in part.get_payload():
            if isinstance(sub, Message):
                walk(sub, parts, ctype, depth + 1, defects)
        return
    if maintype == "multipart":
        _recover_multipart(part, parts, depth, defects)
        return
    filename = part_filename(part, defects)
    if maintype == "text" and subtype in ("plain", "html"):
        disposition = part.get_content_disposition()
        if filename is None and disposition != "attachment":
            if subtype == "plain":
                parts.plain.append(part_text(part, "text/plain part", defects))
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
