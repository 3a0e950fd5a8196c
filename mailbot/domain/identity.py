"""When two mails are the same mail, and identifiers that fit the database.

A Message-ID says which mail a sender *claims* to send; two different complaints can carry
the same one (a broken mailer, or on purpose). The same mail is the same content: the
fingerprint hashes what a reader sees (sender, subject, date, text, attachments), so the
copy of a mail that reached us by two routes, or the coordinator's sent-folder copy of a
mail that is also in the inbox, is recognised, while the trace headers servers add on the
way (Received, Authentication-Results, ...) make no difference.

Message-IDs may be up to 998 characters and more in hostile mail; stored ones are bounded
(`bounded_id`) the same way everywhere, so threading still matches and no index or outbox
key overflows.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from mailbot.domain.model import InboundMail

MAX_ID = 200  # characters of a Message-ID kept as is
LONG_ID_DOMAIN = "long-message-id.invalid"


def bounded_id(message_id: str) -> str:
    """The Message-ID itself when short enough, else a stable stand-in derived from it."""
    if len(message_id) <= MAX_ID:
        return message_id
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{digest}@{LONG_ID_DOMAIN}"


def bounded_mail(mail: InboundMail) -> InboundMail:
    """The mail with every Message-ID it names bounded."""
    ids = (mail.message_id, *mail.in_reply_to, *mail.references)
    if all(len(i) <= MAX_ID for i in ids):
        return mail
    return replace(
        mail,
        message_id=bounded_id(mail.message_id),
        in_reply_to=tuple(bounded_id(i) for i in mail.in_reply_to),
        references=tuple(bounded_id(i) for i in mail.references),
    )


def content_fingerprint(mail: InboundMail) -> str:
    """SHA-256 of what a reader sees of the mail."""
    h = hashlib.sha256()
    parts = (
        mail.sender.email.lower() if mail.sender else "",
        mail.subject,
        mail.date.isoformat() if mail.date else "",
        mail.body_text.strip(),
    )
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    for attachment in mail.attachments:
        h.update(hashlib.sha256(attachment.content).digest())
    return h.hexdigest()
