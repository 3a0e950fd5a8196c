"""Turn rendered texts into complete RFC 5322 messages with the headers that keep
mail clients threading and keep other robots from answering us."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
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


_ENCODED_WORD_START = "=?"
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " "})


def inert(text: str) -> str:
    """Header text as it stands, never re-read as an encoded-word: a name or subject from a
    stranger can hold a literal `=?…?=` that the email package would otherwise decode (to
    CR LF, a second address or lone surrogates) while building our headers."""
    return text.translate(_LINE_BREAKS).replace(_ENCODED_WORD_START, "= ?")


def _address(address: Address) -> str:
    return formataddr((inert(address.name), address.email))


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
    msg = EmailMessage(policy=SMTP)
    subject = inert(rendered.subject)
    msg["From"] = _address(sender)
    msg["To"] = ", ".join(_address(a) for a in to)
    if reply_to is not None:
        msg["Reply-To"] = _address(reply_to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
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
        subject=subject,
        content=msg.as_bytes(),
    )
