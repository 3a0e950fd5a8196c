"""When mailbot must not answer automatically (RFC 3834 section 2, and the habits of
mail clients and list servers that predate it), and how to recognise a bounce."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.domain.model import InboundMail

_ROBOT_LOCALPART = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|"
    r"bounce[-+].*|auto[-_.]?reply|notifications?)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReplyPolicy:
    own_addresses: frozenset[str]  # lowercased: our from_address, the mailbox address
    own_message_id_domain: str  # Message-IDs we generate end in ".mailbot@<this>"


def is_auto_submitted(mail: InboundMail) -> bool:
    """RFC 3834: any Auto-Submitted value other than 'no' marks an automatic mail
    (out-of-office replies, bounces, notifications)."""
    value = mail.header("Auto-Submitted")
    return value is not None and value.split(";")[0].strip().lower() != "no"


def is_bounce(mail: InboundMail) -> bool:
    """A delivery status notification (RFC 3464): multipart/report with
    report-type=delivery-status, or a classic bounce from the mailer daemon."""
    content_type = (mail.header("Content-Type") or "").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return True
    sender = mail.sender.email.split("@")[0] if mail.sender else ""
    return sender.lower() in {"mailer-daemon", "postmaster"} and (
        "undeliver" in mail.subject.lower()
        or "delivery status" in mail.subject.lower()
        or "niet bezorgd" in mail.subject.lower()
        or "onbestelbaar" in mail.subject.lower()
    )


def is_own_mail(mail: InboundMail, policy: ReplyPolicy) -> bool:
    if mail.sender is not None and mail.sender.email.lower() in policy.own_addresses:
        return True
    return is_own_message_id(mail.message_id, policy.own_message_id_domain)


def is_own_message_id(message_id: str, domain: str) -> bool:
    """Message-IDs mailbot generates end in '.mailbot@<domain>' (outbound/compose.py)."""
    return message_id.lower().endswith(f".mailbot@{domain.lower()}")


def no_reply_reason(mail: InboundMail, policy: ReplyPolicy) -> str | None:
    """Why no automatic receipt may go to this mail's sender; None when one may.

    The mail is recorded either way: this only guards against mail loops and against
    answering lists, robots and spam.
    """
    if mail.sender is None or not mail.sender.email:
        return "no sender address"
    if is_own_mail(mail, policy):
        return "our own mail"
    if is_bounce(mail):
        return "delivery status notification"
    if is_auto_submitted(mail):
        return f"Auto-Submitted: {mail.header('Auto-Submitted')}"
    precedence = (mail.header("Precedence") or "").strip().lower()
    if precedence in {"bulk", "junk", "list"}:
        return f"Precedence: {precedence}"
    for header in ("List-Id", "List-Unsubscribe"):
        if mail.header(header) is not None:
            return f"mailing list ({header})"
    if mail.header("X-Auto-Response-Suppress") is not None:
        return "X-Auto-Response-Suppress"
    if (mail.header("X-Spam-Flag") or "").strip().upper() == "YES":
        return "marked as spam (X-Spam-Flag: YES)"
    localpart = mail.sender.email.split("@")[0]
    if _ROBOT_LOCALPART.match(localpart):
        return f"robot sender ({mail.sender.email})"
    return None
