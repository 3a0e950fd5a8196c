"""Turn rendered texts into complete RFC 5322 messages with the headers that keep
mail clients threading and keep other robots from answering us."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
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
    # RFC 6532: an internationalised address is written as UTF-8 in the header; the mail
    # then needs an SMTPUTF8 server (RFC 6531), which outbound/smtp.py asks for.
    utf8 = not all(a.email.isascii() for a in (sender, *to))
    msg = EmailMessage(policy=SMTPUTF8 if utf8 else SMTP)
    msg["From"] = _address(sender)
    msg["To"] = ", ".join(_address(a) for a in to)
    if reply_to is not None:
        msg["Reply-To"] = _address(reply_to)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{message_id}>"
    _thread(msg, in_reply_to, references, utf8)
    # RFC 3834 section 5: mark our mail as automatic so that well-behaved responders
    # stay silent; X-Auto-Response-Suppress does the same for Exchange / Outlook.
    msg["Auto-Submitted"] = auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Content-Language"] = "nl-BE"
    for name, value in extra_headers:
        msg[name] = value
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return ComposedMail(
        message_id=message_id,
        recipients=tuple(a.email for a in to),
        subject=rendered.subject,
        content=msg.as_bytes(),
    )


def _thread(
    msg: EmailMessage, in_reply_to: str | None, references: Sequence[str], utf8: bool
) -> None:
    """In-Reply-To and References (RFC 5322 §3.6.4)."""
    if not utf8:  # a msg-id is never an encoded word: a non-ASCII one is left out
        in_reply_to = in_reply_to if in_reply_to and in_reply_to.isascii() else None
        references = [r for r in references if r.isascii()]
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)


def _address(address: Address) -> str:
    if address.email.isascii():
        return formataddr((address.name, address.email))
    local, _, domain = address.email.rpartition("@")
    return str(HeaderAddress(address.name, local, domain))
