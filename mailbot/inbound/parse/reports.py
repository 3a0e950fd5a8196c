"""What a machine mail reports about other mail: the Message-IDs of the originals it
carries or quotes, and the recipients a bounce says failed.

The facts are gathered here, where the MIME tree is at hand; the decision what kind of
machine mail it is lives in :mod:`mailbot.domain.machine`.

Bounce dialects are recognised by flufl.bounce (Mailman's bounce detectors: RFC 3464
DSNs, Exim, qmail, Postfix, Yahoo, GroupWise, Microsoft, and generic patterns), which
needs the ``email.message.Message`` tree and so runs in this adapter, not in the domain.
"""

from __future__ import annotations

import email.policy
import logging
import re
from email.message import Message
from email.parser import BytesHeaderParser

from flufl.bounce import all_failures

from mailbot.domain.model import Attachment
from mailbot.inbound.parse.charset import header_text
from mailbot.inbound.parse.headers import message_ids
from mailbot.inbound.parse.tree import MESSAGE_TYPES

log = logging.getLogger(__name__)

# flufl.bounce logs one INFO line per detector per mail; its failures are reported below.
if logging.getLogger("flufl.bounce").level == logging.NOTSET:
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

# The field may be folded onto the next line (RFC 5322 §2.2.3), also in a quoted copy.
_BODY_MESSAGE_ID = re.compile(
    r"^[ \t>]*Message-I[Dd][ \t]*:[ \t]*(?:\r?\n[ \t>]*[ \t]+)?<([^<>\s]+)>",
    re.MULTILINE | re.IGNORECASE,
)
# Where a DSN puts the original message (RFC 3464 §2, RFC 6522 §3, RFC 6533 §6); an ARF
# report (RFC 5965 §2) uses the same two forms.
_ORIGINAL_TYPES = MESSAGE_TYPES | {"text/rfc822-headers", "message/global-headers"}
# RFC 8098 §3.1: an MDN names the original in its disposition-notification part.
_MDN_TYPES = frozenset(
    {"message/disposition-notification", "message/global-disposition-notification"}
)
_HEADER_PARSER = BytesHeaderParser(policy=email.policy.compat32)


def quoted_message_ids(
    attachments: tuple[Attachment, ...], body_text: str, own_id: str
) -> tuple[str, ...]:
    """Message-IDs (without angle brackets) of the originals a mail carries.

    The Message-ID of each message/rfc822 or text/rfc822-headers part and the
    Original-Message-ID of an MDN part; when there are none, the "Message-ID: <...>"
    lines quoted in the body (older bounces quote the original as text). Never own_id.
    """
    found: list[str] = []
    for attachment in attachments:
        if attachment.content_type in _ORIGINAL_TYPES:
            field = "Message-ID"
        elif attachment.content_type in _MDN_TYPES:
            field = "Original-Message-ID"
        else:
            continue
        value = _HEADER_PARSER.parsebytes(attachment.content).get(field)
        if value is not None:
            found.extend(message_ids(header_text(str(value), field, []))[:1])
    if not found:
        found = _BODY_MESSAGE_ID.findall(body_text)
    return tuple(i for i in dict.fromkeys(found) if i != own_id)


def bounce_recipients(message: Message, defects: list[str]) -> tuple[str, ...]:
    """The recipients a bounce reports as failed (temporarily or for good), lowercased;
    empty for a mail that no flufl.bounce detector takes for a bounce."""
    try:
        temporary, permanent = all_failures(message)
    except Exception as exc:  # a third-party library on hostile input: any bug may surface
        log.debug("flufl.bounce failed", exc_info=True)
        defects.append(f"bounce detection failed: {type(exc).__name__}")
        return ()
    found = (
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        for item in (*sorted(permanent), *sorted(temporary))
    )
    return tuple(dict.fromkeys(address.strip().lower() for address in found if address))
