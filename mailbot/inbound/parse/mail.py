"""Turn one raw mailbox message into an :class:`InboundMail`: the route through the
package (check, repair headers, parse the tree, read headers, addresses, body, date)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from email.message import Message

from mailbot.domain.machine import automatic_sender
from mailbot.domain.model import InboundMail
from mailbot.inbound.parse.addresses import MP_ADDRESS_ATTRS, address_notes, read_addresses
from mailbot.inbound.parse.bodies import body_text
from mailbot.inbound.parse.charset import header_text
from mailbot.inbound.parse.headers import (
    SINGLE_FIELDS,
    message_ids,
    read_date,
    synthetic_id,
)
from mailbot.inbound.parse.repair import check_is_mail, repair_header_block
from mailbot.inbound.parse.reports import bounce_recipients, quoted_message_ids
from mailbot.inbound.parse.tree import Parts, parse_tree, walk

log = logging.getLogger(__name__)


@dataclass
class _Headers:
    """Every header decoded, in order, and the first raw and decoded value of each field."""

    items: list[tuple[str, str]] = field(default_factory=list)
    first_raw: dict[str, str] = field(default_factory=dict)
    first_text: dict[str, str] = field(default_factory=dict)


def _read_headers(message: Message, defects: list[str]) -> _Headers:
    headers = _Headers()
    counts: dict[str, int] = {}
    spelling: dict[str, str] = {}
    for name, value in message.raw_items():
        raw_value = str(value)
        lname = name.lower()
        text = header_text(raw_value, f"{name} header", defects)
        headers.items.append((name, text))
        counts[lname] = counts.get(lname, 0) + 1
        headers.first_raw.setdefault(lname, raw_value)
        spelling.setdefault(lname, name)
        headers.first_text.setdefault(lname, text)
    for lname, count in counts.items():
        if count > 1 and lname in SINGLE_FIELDS:
            defects.append(f"repeated {spelling[lname]} header ({count} times): the first is used")
    return headers


def _message_id(headers: _Headers, raw: bytes, defects: list[str]) -> str:
    message_id = ""
    if "message-id" in headers.first_text:
        ids = message_ids(headers.first_text["message-id"])
        message_id = ids[0] if ids else ""
        if not message_id:
            defects.append("empty Message-ID header: an id was synthesised")
    else:
        defects.append("missing Message-ID: an id was synthesised")
    return message_id or synthetic_id(raw)


def _body(message: Message, defects: list[str]) -> tuple[str, Parts]:
    parts = Parts()
    walk(message, parts, "", 0, defects)
    body = body_text(parts, defects)
    if not body:
        # A mail that only forwards another one: its text is what staff need to read.
        for inner in parts.forwarded:
            inner_parts = Parts()
            walk(inner, inner_parts, "", 1, defects)
            body = body_text(inner_parts, defects)
            if body:
                break
    return body, parts


def parse_mail(raw: bytes) -> InboundMail:
    """Parse one raw message (as fetched with ``BODY.PEEK[]``) into an InboundMail.

    Raises ParseError when the bytes are not a mail message at all.
    """
    defects: list[str] = []
    data = check_is_mail(raw, defects)
    data = repair_header_block(data, defects)
    message, parser = parse_tree(data, raw, defects)
    headers = _read_headers(message, defects)
    first_text = headers.first_text
    message_id = _message_id(headers, raw, defects)
    addresses = {
        lname: read_addresses(parser, lname, headers.first_raw.get(lname), defects)
        for lname in MP_ADDRESS_ATTRS
    }
    if "from" not in headers.first_raw:
        defects.append("missing From header")
    notes = address_notes(
        "From", addresses["from"][:1], headers.first_raw.get("from")
    ) + address_notes("Reply-To", addresses["reply-to"], headers.first_raw.get("reply-to"))
    body, parts = _body(message, defects)
    attachments = tuple(parts.attachments)
    date = read_date(parser, headers.first_raw.get("date"), defects)
    unique_defects = tuple(dict.fromkeys(defects))
    if unique_defects:
        log.debug("mail %s: %d repairs", message_id, len(unique_defects))
    mail = InboundMail(
        sender=addresses["from"][0] if addresses["from"] else None,
        reply_to=addresses["reply-to"],
        to=addresses["to"],
        cc=addresses["cc"],
        subject=" ".join(first_text.get("subject", "").split()),
        date=date,
        message_id=message_id,
        in_reply_to=message_ids(first_text.get("in-reply-to", "")),
        references=message_ids(first_text.get("references", "")),
        body_text=body,
        attachments=attachments,
        headers=tuple(headers.items),
        defects=unique_defects,
        address_notes=notes,
        quoted_message_ids=quoted_message_ids(attachments, body, message_id),
    )
    if automatic_sender(mail):
        # flufl.bounce costs milliseconds a mail; its finding only counts for such mail.
        bounced = bounce_recipients(message, defects)
        mail = replace(mail, bounce_recipients=bounced, defects=tuple(dict.fromkeys(defects)))
    return mail


def original_message_ids(mail_or_raw: InboundMail | bytes) -> list[str]:
    """Message-IDs (without angle brackets) of the original quoted in a bounce.

    Meant for a bounce: a DSN (RFC 3464) carries the original in a message/rfc822 or a
    text/rfc822-headers part (RFC 6522 §3), an MDN names it in Original-Message-ID; older
    bounces quote it as text, so the body's "Message-ID: <...>" lines are the fallback.
    The bounce's own id is never returned. Raises ParseError when given bytes that are
    not a mail.
    """
    if isinstance(mail_or_raw, InboundMail):
        mail = mail_or_raw
    else:
        mail = parse_mail(bytes(mail_or_raw))
    return list(quoted_message_ids(mail.attachments, mail.body_text, mail.message_id))
